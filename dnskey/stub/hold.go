package stub

import (
	"context"
	"errors"
	"time"
)

// Holding answers (Config.Hold, dns.stub.hold): without it the answer
// goes to the application as soon as upstream answers, and the
// application's first packet races the prestarted negotiation (the
// packet waits in the trap for the rest of the handshake). With it, an
// answer with addresses in an OE group waits until the negotiations the
// answer prestarted are over, so the first packet finds its SA; the wait
// moves from the first packet to the DNS answer, and is never longer
// than Hold from when the upstream answer arrived. A negotiation that
// fails releases the answer at once (the failure shunt decides what the
// packet does); so does one that never started (a tunnel is up already,
// a shunt is in force).

// hold waits, before j's answer is written, for j's prestarts and then
// for the negotiations with its addresses in an OE group, until arrived
// plus Config.Hold at the latest.
func (s *Stub) hold(j *job, arrived time.Time) {
	s.stats.held.Add(1)
	ctx, cancel := context.WithDeadline(s.life, arrived.Add(s.cfg.Hold))
	defer cancel()
	select {
	case <-j.over:
	case <-ctx.Done():
		s.heldOver(ctx, j)
		return
	}
	s.mu.Lock()
	addrs := s.oeAddrs(j.addrs) // the job left pending: no answer changes them now
	s.mu.Unlock()
	for _, a := range addrs {
		if err := s.cfg.AwaitTunnel(ctx, a); err != nil {
			if ctx.Err() != nil {
				s.heldOver(ctx, j)
				return
			}
			s.log.Debug("dns stub: answer released: the negotiation failed", "name", j.name, "addr", a, "err", err)
		}
	}
	s.log.Debug("dns stub: answer released: negotiations over", "name", j.name, "held", time.Since(arrived))
}

// heldOver counts and logs a hold that reached its bound (or the stub's
// end).
func (s *Stub) heldOver(ctx context.Context, j *job) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.stats.holdTimeouts.Add(1)
		s.log.Debug("dns stub: answer released: the hold's bound passed", "name", j.name, "hold", s.cfg.Hold)
	}
}
