package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/dnskey/publish"
	"github.com/oemesh/oemesh/dnskey/stub"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/rsasign"
	"github.com/oemesh/oemesh/internal/systemd"
	"github.com/oemesh/oemesh/internal/udpmux"
	"github.com/oemesh/oemesh/internal/version"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/policygroups"
)

// daemon holds oemeshd's running state.
type daemon struct {
	// cfg is the configuration oemeshd started with; live is what is in
	// force after reloads (reload.go): cfg with the keys a reload may
	// change taken from the file as it is now.
	cfg     *config.Config
	live    atomic.Pointer[config.Config]
	reread  func() (*config.Config, error) // config.Load with this start's options
	level   *slog.LevelVar                 // the logger's level (log.level)
	sd      *serviceManager                // sd_notify (service.go); nil: none
	log     *slog.Logger
	clock   clock.Clock
	started time.Time
	policy  policyState
	ctl     *control.Server
	// exemptions are the hosts taken out of OE whatever the policy says
	// (exempt.go), applied to the policy at every load. They are read at
	// start and at each reload, as the resolver's servers are: nothing
	// watches resolv.conf.
	exemptions atomic.Pointer[[]policygroups.Exemption]
	// reloadHook, when set, runs after each successful policy reload with
	// what changed (the data plane subscribes here).
	reloadHook func(policygroups.Diff)

	// The running OE stack; nil until start.
	dp               kernel.Dataplane
	dpName, dpReason string
	udpEncap         udpEncap // kernel.udp_encap as the engine took it (udpencap.go)
	resolver         *dnskey.Resolver
	bindings         *dnskey.Bindings     // addresses bound to forward names (bindings.go)
	mux              *udpmux.Mux          // the IKE sockets, shared with the data plane for ESP-in-UDP
	stack            *dispatch.Dispatcher // OE and the conns in front of the engine
	oe               *oe.OE               // stack.OE()
	identity         string
	signer           *hostSigner        // the host key; nil with oe.null_auth only and no key
	rsa              *rsasign.Signers   // what signs with RSA keys (crypto.rsa); set by startStack
	publisher        *publish.Runner    // dns.publish; nil when off
	keyChanges       chan crypto.Signer // SIGHUP's new host keys, for the publication loop
	conns            connSet            // configured conns and their secrets (conns.go)
	startConns       []config.Conn      // the conns of the configuration file
	stub             *stub.Stub         // the DNS stub; nil when dns.stub.listen is off
	oeCert           *engineCert        // oe.cert (certoe.go); nil when not set
	revocation       *revocation        // certs.* (revocation.go); built by readConns
	meters           meters             // metrics observed as they happen (metrics.go); set by startOE
	saKeys           *keyedDataplane    // the installed SA pairs' keys, for oemesh debug keys (debugkeys.go)
}

func newDaemon(cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, clock: clock.System{}, level: new(slog.LevelVar)}
	d.live.Store(cfg)
	d.policy.dir = cfg.Policies
	ex, err := dnsExemptions(cfg)
	if err != nil {
		// The resolver will refuse the same servers when the stack starts,
		// and say why; until then there is nothing to exempt.
		log.Warn("cannot list the DNS servers to exempt from OE", "err", err)
	}
	d.exemptions.Store(&ex)
	return d, nil
}

// run starts the daemon and blocks until ctx ends.
func (d *daemon) run(ctx context.Context) error {
	d.started = d.clock.Now()
	if res := d.reloadPolicy(ctx); !res.OK {
		return fmt.Errorf("policies: %s", strings.Join(res.Errors, "\n"))
	}
	d.ctl = control.NewServer(d.log)
	d.registerHandlers()
	if err := d.ctl.Listen(d.cfg.ControlSocket); err != nil {
		return err
	}
	if err := d.startStack(ctx); err != nil {
		d.ctl.Close()
		d.stopStack()
		return err
	}
	// The IKE sockets outlive ctx: stopStack sends our Deletes and waits
	// for the answers before it closes them. (Deferred calls run last
	// first: this cancel runs after stopStack.)
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelIO()
	defer d.stopStack()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	// The DNS stub starts before the control socket serves (status reads
	// it) and stops before the stack (deferred calls run last first): its
	// prestarts use the stack.
	st, err := d.startStub(runCtx)
	if err != nil {
		return err
	}
	d.stub = st
	if d.stub != nil {
		defer d.stub.Close()
	}
	errc := make(chan error, 4)
	go func() { errc <- d.ctl.Serve(runCtx) }()
	go func() {
		handle, stop := d.ikeHandler()
		err := d.mux.Serve(ioCtx, handle)
		stop()
		if err != nil {
			errc <- fmt.Errorf("IKE sockets: %w", err)
		}
	}()
	go func() {
		if err := d.stack.Run(runCtx); err != nil && runCtx.Err() == nil {
			errc <- err
		}
	}()
	if d.cfg.Metrics.Listen != "off" && d.cfg.Metrics.Listen != "" {
		stop, err := d.serveMetrics(runCtx, d.cfg.Metrics.Listen)
		if err != nil {
			return err
		}
		defer stop()
	}
	stopPublish, err := d.startPublish(runCtx)
	if err != nil {
		return err
	}
	defer stopPublish()
	d.log.Info("oemeshd started", "version", version.Get().Version, "commit", version.Get().Commit, "pid", os.Getpid(),
		"config", d.cfg.File, "control_socket", d.cfg.ControlSocket, "policies", d.cfg.Policies,
		"dataplane", d.dpName, "identity", d.identity)

	d.sd.notify(systemd.Ready, systemd.Status(d.statusLine()))
	return d.loop(ctx, errc, runCtx)
}

// loop is the daemon's main loop: signals, the end, and the watchdog's
// pings, which come from here and nowhere else, so that a loop stuck in a
// reload or on the orchestrator's lock stops them (service.go).
func (d *daemon) loop(ctx context.Context, errc <-chan error, runCtx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	watchdog, stopWatchdog := d.sd.ticker()
	defer stopWatchdog()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("oemeshd stopping", "reason", context.Cause(ctx))
			d.sd.notify(systemd.Stopping, systemd.Status("stopping: telling peers we go"))
			d.ctl.Close()
			return nil
		case err := <-errc:
			d.sd.notify(systemd.Stopping)
			if runCtx.Err() != nil {
				return nil
			}
			return err
		case <-watchdog:
			d.sd.notify(systemd.Watchdog, systemd.Status(d.statusLine()))
		case <-hup:
			d.sd.notify(systemd.ReloadingNow()...)
			res := d.reload(ctx)
			d.sd.notify(systemd.Ready, systemd.Status(res.status()+"; "+d.statusLine()))
		}
	}
}

// startStack brings up the data plane, DNS, IKE and the orchestrator, and
// puts the loaded policy into the data plane.
func (d *daemon) startStack(ctx context.Context) error {
	if err := d.startRSA(); err != nil {
		return err
	}
	conns, err := d.readConns()
	if err != nil {
		return err
	}
	d.startConns = conns
	dp, err := d.openDataplane(ctx, d.cfg)
	if err != nil {
		return err
	}
	d.dp = dp
	if err := d.startOE(ctx, d.cfg, dp); err != nil {
		return err
	}
	pol, _, _ := d.policy.get()
	_, polErr := d.oe.SetPolicy(ctx, pol)
	if polErr != nil {
		d.log.Error("installing the policy into the data plane", "err", polErr)
	}
	if err := d.addConns(ctx, conns, d.cfg.File, false); err != nil {
		return fmt.Errorf("conns: %w", err)
	}
	if polErr == nil {
		d.removeStaleTraps(ctx, dp)
	}
	d.reloadHook = func(policygroups.Diff) {
		p, _, _ := d.policy.get()
		if _, err := d.oe.SetPolicy(context.Background(), p); err != nil {
			d.log.Error("applying the reloaded policy", "err", err)
		}
	}
	return nil
}

// stopStack tells peers we are going (Deletes, waiting up to a second for
// the answers while the sockets still serve), then closes the sockets and
// removes what the data plane installed.
func (d *daemon) stopStack() {
	if d.stack != nil {
		start := d.clock.Now()
		if err := d.stack.Close(); err != nil {
			d.log.Warn("telling peers we stop", "err", err)
		}
		d.log.Info("peers told we stop", "took", d.clock.Now().Sub(start).Round(time.Millisecond))
	}
	if d.mux != nil {
		d.mux.Close()
	}
	if d.dp != nil {
		if err := d.dp.Close(); err != nil {
			d.log.Error("closing the data plane", "err", err)
		}
	}
}

// reloadPolicy loads the policy directory and, if it has no errors, puts it
// in force. A broken file keeps the old policy and is reported FILE:LINE.
func (d *daemon) reloadPolicy(ctx context.Context) control.PolicyCheck {
	res := control.PolicyCheck{Dir: d.cfg.Policies}
	pol, warns, err := loadPolicy(ctx, d.cfg.Policies)
	for _, w := range warns {
		res.Warnings = append(res.Warnings, w.String())
		d.log.Warn("policy", "warning", w.String())
	}
	if errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("policy directory does not exist; every destination is clear", "dir", d.cfg.Policies)
		pol, err = &policygroups.Policy{}, nil
	}
	if err != nil {
		res.Errors = policyErrors(err)
		old, _, _ := d.policy.get()
		if old != nil {
			d.log.Error("policy reload failed; keeping the policy in force", "errors", len(res.Errors), "first", res.Errors[0])
		}
		return res
	}
	pol = exempt(d.log, pol, *d.exemptions.Load())
	diff := d.policy.set(pol, d.clock.Now(), warns)
	res.OK, res.Applied, res.Prefixes, res.Exclusions = true, true, pol.Len(), len(pol.Exclusions())
	res.Added, res.Removed, res.Changed = len(diff.Added), len(diff.Removed), len(diff.Changed)
	d.log.Info("policy loaded", "dir", d.cfg.Policies, "prefixes", pol.Len(),
		"added", res.Added, "removed", res.Removed, "changed", res.Changed)
	if d.reloadHook != nil && !diff.Empty() {
		d.reloadHook(diff)
	}
	return res
}

// policyErrors lists a load error as FILE:LINE lines.
func policyErrors(err error) []string {
	var errs policygroups.Errors
	if !errors.As(err, &errs) {
		return []string{err.Error()}
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}
