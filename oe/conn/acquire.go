package conn

import (
	"fmt"
	"iter"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/policygroups"
)

// For is the conn that takes traffic to addr, if a routed conn's remote
// subnet holding addr is at least as specific as the policy groups' match.
func (c *Conns) For(addr netip.Addr) (name string, prefix netip.Prefix, ok bool) {
	cs, p := c.forDst(addr, c.traps.Policy().Lookup(addr))
	if cs == nil {
		return "", netip.Prefix{}, false
	}
	return cs.Name, p, true
}

// forDst picks the most specific routed conn for dst, unless the policy
// match m is more specific: policygroups.ConnFor's rule, which `oemesh
// policy explain --config` applies offline.
func (c *Conns) forDst(dst netip.Addr, m policygroups.Match) (*connState, netip.Prefix) {
	if !c.anyRouted() {
		// No subnet to pick from (ConnFor's answer too), and no
		// iterator to build: the responder asks for every peer's key
		// prefetch, and a responder's conns are seldom routed.
		return nil, netip.Prefix{}
	}
	m.Addr = dst
	cs, p, _ := policygroups.ConnFor(m, c.routedSubnets())
	return cs, p
}

// anyRouted reports whether any conn is routed.
func (c *Conns) anyRouted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cs := range c.all {
		if cs.routed {
			return true
		}
	}
	return false
}

// routedSubnets yields each routed conn with each of its remote subnets.
func (c *Conns) routedSubnets() iter.Seq2[*connState, netip.Prefix] {
	return func(yield func(*connState, netip.Prefix) bool) {
		for _, cs := range c.list() {
			c.mu.Lock()
			routed := cs.routed
			c.mu.Unlock()
			if !routed {
				continue
			}
			for _, p := range cs.remoteNets() {
				if !yield(cs, p) {
					return
				}
			}
		}
	}
}

// Acquire takes an acquire that falls to a conn: one whose destination a
// routed conn's remote subnet holds at least as specifically as the policy
// groups' match. Traffic from its local subnets starts (or joins) its
// negotiation; traffic from elsewhere (e.g. the gateway's own address
// toward the remote subnet) is not the conn's, and pass says why it goes
// in the clear (FreeS/WAN's eroutes cover only subnet to subnet). taken is
// false when no conn takes the acquire: it is OE's.
func (c *Conns) Acquire(a kernel.Acquire) (taken bool, pass string) {
	cs, _ := c.forDst(a.Flow.Dst, c.traps.Policy().Lookup(a.Flow.Dst))
	if cs == nil {
		return false, ""
	}
	c.stats.acquires.Add(1)
	inside := false
	for _, p := range cs.localNets() {
		if p.Contains(a.Flow.Src) {
			inside = true
		}
	}
	if !inside {
		return true, fmt.Sprintf("source %s is outside conn %s's local subnets %v: not carried by its tunnel", a.Flow.Src, cs.Name, cs.localNets())
	}
	c.mu.Lock()
	busy := cs.negotiating || len(cs.tunnels) > 0
	c.mu.Unlock()
	if !busy {
		c.try(cs, false)
	}
	return true, ""
}
