package oe

import (
	"context"
	"fmt"
	"net/netip"
)

// Prestart begins a negotiation with target before any packet to it,
// because a DNS answer for one of its names has just gone to an
// application (the DNS stub, dns.prestart): the application's first
// packet then finds the tunnel up, or half-way. It is the acquire path
// (onAcquire) without a packet: the same group checks, the same
// negotiation, the same failure shunt if it fails. It starts nothing when
// the group does not initiate, when target is one of our gateway clients,
// when a tunnel to target is up, when a shunt for the flow is in force (a
// recent failure: the next try is the trap's, after shunt_lifetime), or
// when a negotiation with target already runs; it reports whether it
// started one. It does not wait for the outcome.
func (o *OE) Prestart(ctx context.Context, src, target netip.Addr) bool {
	src, target = src.Unmap(), target.Unmap()
	g := o.policy.Load().Group(target)
	if !g.Initiates() || o.servesClient(target) || len(o.tunnels.ToPeer(target)) > 0 {
		return false
	}
	o.mu.Lock()
	_, shunted := o.shunts[hostFlow(src, target)]
	_, running := o.negotiations[target]
	o.mu.Unlock()
	if shunted || running {
		return false
	}
	o.log.Debug("prestarting OE", "target", target, "src", src, "group", g)
	o.start(ctx, src, target, g)
	return true
}

// AwaitNegotiation waits for the negotiation with target that runs now,
// if any, to end, or for ctx to end, and returns its failure (nil when
// it brought a tunnel up, or when none ran). The DNS stub's hold
// (dns.stub.hold) waits with it for the negotiation its answer
// prestarted, so that the application's first packet finds the tunnel.
func (o *OE) AwaitNegotiation(ctx context.Context, target netip.Addr) error {
	o.mu.Lock()
	n := o.negotiations[target.Unmap()]
	o.mu.Unlock()
	if n == nil {
		return nil
	}
	select {
	case <-n.done:
		return n.err
	case <-ctx.Done():
		return fmt.Errorf("oe: waiting for the negotiation with %s: %w", target, context.Cause(ctx))
	}
}
