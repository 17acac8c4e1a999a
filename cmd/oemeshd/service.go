package main

// What oemeshd tells systemd (Type=notify in dist/oemeshd.service):
// READY=1 once the control socket listens and the data plane, the IKE
// sockets and the policy are up; RELOADING=1 and READY=1 around a reload;
// STOPPING=1 when it goes; STATUS= a one-line summary; and WATCHDOG=1 from
// the main loop (daemon.run), which takes the orchestrator's lock for the
// summary first, so that a wedged loop or a deadlocked orchestrator stops
// the pings and systemd restarts the daemon (WatchdogSec=).

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/oemesh/oemesh/internal/systemd"
)

// serviceManager is the daemon's side of sd_notify.
type serviceManager struct {
	n   *systemd.Notifier
	log *slog.Logger
	// watchdog is how often to ping; 0 when systemd does not watch us.
	watchdog time.Duration
}

func newServiceManager(log *slog.Logger, getenv func(string) string) *serviceManager {
	wd, err := systemd.WatchdogInterval(getenv)
	if err != nil {
		log.Warn("systemd watchdog off: its settings do not parse", "err", err)
	}
	return &serviceManager{n: systemd.NewNotifier(getenv), log: log, watchdog: wd}
}

// notify sends states; a failure is logged, never fatal: the daemon works
// without a service manager.
func (s *serviceManager) notify(states ...string) {
	if s == nil {
		return
	}
	if err := s.n.Notify(states...); err != nil {
		s.log.Warn("cannot tell systemd our state; check NOTIFY_SOCKET and NotifyAccess= in the unit", "states", states, "err", err)
	}
}

// ticker is the watchdog's tick, or a nil channel when there is none.
func (s *serviceManager) ticker() (<-chan time.Time, func()) {
	if s == nil || s.watchdog <= 0 || !s.n.Enabled() {
		return nil, func() {}
	}
	t := time.NewTicker(s.watchdog)
	return t.C, t.Stop
}

// statusLine is the STATUS= summary: tunnels, shunts, policy and data
// plane, as `systemctl status oemeshd` shows it.
func (d *daemon) statusLine() string {
	pol, _, _ := d.policy.get()
	prefixes := 0
	if pol != nil {
		prefixes = pol.Len()
	}
	if d.oe == nil {
		return fmt.Sprintf("starting; policy %d prefixes", prefixes)
	}
	// Shunts takes the orchestrator's lock and SAs the IKE engine's: the
	// watchdog's liveness probe.
	shunts := len(d.oe.Shunts())
	tunnels := 0
	for _, sa := range d.oe.Engine().SAs() {
		tunnels += len(sa.Children)
	}
	return fmt.Sprintf("%d child SAs, %d shunts; policy %d prefixes; data plane %s", tunnels, shunts, prefixes, d.dpName)
}
