// Command oemeshd is the oemesh daemon: it loads the configuration and the
// policy groups, serves the control API that the oemesh CLI talks to, and
// runs opportunistic encryption for this host.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/systemd"
	"github.com/oemesh/oemesh/internal/version"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "oemeshd:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var (
		file   string
		check  bool
		genMan genManFlags
	)
	cmd := &cobra.Command{
		Use:   "oemeshd",
		Short: "The oemesh opportunistic-encryption IPsec daemon",
		Long: `oemeshd encrypts traffic to every peer that publishes its key in DNS, as the
policy groups in the policies directory say. Configuration comes from the
file given by --config (YAML, or TOML by extension), then OEMESH_* environment
variables, then flags; every key is listed below as a flag, and described
in oemesh.yaml(5).

SIGHUP (systemctl reload oemeshd) reloads, without dropping a tunnel: the
configuration's log.level and dns.servers, dns.timeout and
dns.exempt_servers; the conns of the configuration file and every conn's
secrets; the policy files; the host key (a new one starts a key rollover
with dns.publish); certificates, CA bundles and CRLs. Other changed keys
are named in the log and wait for a restart. A file that does not load
keeps what is in force, and the error says FILE:LINE. SIGTERM and SIGINT
stop the daemon after telling peers.

Under systemd (Type=notify) oemeshd sends READY=1 once its control socket
answers, RELOADING=1 and READY=1 around a reload, STOPPING=1, a STATUS=
summary, and WATCHDOG=1 from its main loop when WatchdogSec= is set. When
stderr is the journal it logs there with priorities (journalctl -u oemeshd
-p err) and one field per attribute (journalctl PEER=192.0.2.7).`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if genMan.dir != "" {
				return genMan.write(cmd)
			}
			opts := config.Options{
				File:         file,
				FileRequired: cmd.Flags().Changed("config"),
				Env:          os.Environ(),
				Flags:        cmd.Flags(),
			}
			cfg, err := config.Load(opts)
			if err != nil {
				return err
			}
			if check {
				return checkConfig(cmd, cfg)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			level := new(slog.LevelVar)
			d, err := newDaemon(cfg, newLogger(cfg, level, os.Stderr, os.Getenv, systemd.JournalSocket))
			if err != nil {
				return err
			}
			// A reload reads the same sources again: the file, the
			// environment and the flags of this start.
			d.reread = func() (*config.Config, error) { return config.Load(opts) }
			d.level = level
			d.sd = newServiceManager(d.log, os.Getenv)
			err = d.run(ctx)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (.yaml, .yml or .toml)")
	cmd.Flags().BoolVar(&check, "check-config", false, "validate the configuration and the policy files, then exit")
	config.AddFlags(cmd.Flags())
	genMan.add(cmd)
	cmd.Flags().SortFlags = false
	// cobra adds --version (and -v) when Version is set; the template
	// prints the same line as `oemesh version`.
	cmd.Version = version.Get().String()
	cmd.SetVersionTemplate("oemeshd {{.Version}}\n")
	return cmd
}
