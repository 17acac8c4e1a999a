package policygroups

import (
	"iter"
	"net/netip"
)

// ConnFor decides between configured conns (fixed tunnels) and the policy
// groups for traffic to m.Addr: the most specific remote subnet of a conn
// holding the address wins, unless the groups' match m is more specific (a
// tie goes to the conn). subnets yields each candidate conn with one of its
// remote subnets. ok is false when no conn takes the address: the groups
// decide. The daemon (oe/conn) and `oemesh policy explain --config` both
// decide with it.
func ConnFor[C any](m Match, subnets iter.Seq2[C, netip.Prefix]) (conn C, prefix netip.Prefix, ok bool) {
	dst := m.Addr
	for c, p := range subnets {
		if p.Contains(dst) && (!ok || p.Bits() > prefix.Bits()) {
			conn, prefix, ok = c, p, true
		}
	}
	if !ok || (!m.Default() && m.Entry.Prefix.Bits() > prefix.Bits()) {
		var zero C
		return zero, netip.Prefix{}, false
	}
	return conn, prefix, true
}
