package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

// profileKinds are the profiles GET /v1/debug/profile/KIND serves.
var profileKinds = []string{"cpu", "mutex", "block"}

func newDebugProfileCmd(g *globalFlags) *cobra.Command {
	var secs int
	var out string
	cmd := &cobra.Command{
		Use:   "profile cpu|mutex|block",
		Short: "Take a pprof profile of the running daemon over the next N seconds",
		Long: `Take a profile of oemeshd over the next N seconds (default 10, at most 300)
and write it in pprof's format to FILE, or to standard output when it is
not a terminal; read it with go tool pprof FILE.

  cpu    where the daemon spends its CPU
  mutex  where goroutines wait for locks another goroutine holds
  block  where goroutines block (locks, channels, select)

Mutex and block sampling costs the daemon a little, so the daemon switches
it on only for the N seconds and back off after; the profile holds what
happened in that window only. One profile of each kind at a time.

FILE is written anew with mode 0600 (a profile names the daemon's
functions and the shape of its load, nothing secret, but it is the host's
business). Root only, like the control socket.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: profileKinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := args[0]
			known := false
			for _, k := range profileKinds {
				known = known || k == kind
			}
			if !known {
				return usageError(cmd, "debug profile %q: want cpu, mutex or block", kind)
			}
			if secs < 1 || secs > 300 {
				return usageError(cmd, "--seconds %d: want 1 to 300", secs)
			}
			if out == "" {
				if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
					return usageError(cmd, "debug profile: standard output is a terminal: redirect it (> cpu.pprof) or give -o FILE")
				}
			}
			// The profile is held in memory until it is whole, so that a
			// failure leaves no half-written file behind.
			var buf bytes.Buffer
			timeout := time.Duration(secs)*time.Second + 30*time.Second
			c := control.NewClient(g.socket).WithTimeout(timeout)
			path := "/v1/debug/profile/" + kind + "?seconds=" + strconv.Itoa(secs)
			if err := c.Fetch(cmd.Context(), path, &buf); err != nil {
				return fmt.Errorf("%s profile: %w", kind, err)
			}
			if buf.Len() < 2 || buf.Bytes()[0] != 0x1f || buf.Bytes()[1] != 0x8b {
				return errors.New(kind + " profile: the daemon's reply is not a gzipped pprof profile")
			}
			if out == "" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := writeProfile(out, buf.Bytes()); err != nil {
				return fmt.Errorf("-o: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s profile over %ds: %s (go tool pprof %s)\n", kind, secs, out, out)
			return nil
		},
	}
	cmd.Flags().IntVar(&secs, "seconds", 10, "how long to profile for, in seconds (1 to 300)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the profile to `FILE` (mode 0600) rather than standard output")
	return cmd
}

// writeProfile writes data to path anew with mode 0600, whatever the
// mode of a file already there.
func writeProfile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
