package oe

import (
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/policygroups"
)

// kernelGroup maps a policy group to the data plane's notion of it.
func kernelGroup(g policygroups.Group) kernel.Group {
	switch g {
	case policygroups.ClearOrPrivate:
		return kernel.GroupClearOrPrivate
	case policygroups.PrivateOrClear:
		return kernel.GroupPrivateOrClear
	case policygroups.Private:
		return kernel.GroupPrivate
	case policygroups.Block:
		return kernel.GroupBlock
	}
	return kernel.GroupClear
}

// failureShunt is what a negotiation that ends without a tunnel leaves
// for a flow to a destination in group g: private-or-clear falls back to
// clear, private drops. For the groups that do not initiate (a trap of an
// older policy, or a policy that changed while negotiating) it is that
// group's own answer: clear and clear-or-private pass, block drops.
func failureShunt(g policygroups.Group) kernel.ShuntKind {
	switch g {
	case policygroups.PrivateOrClear, policygroups.Clear, policygroups.ClearOrPrivate:
		return kernel.ShuntPass
	}
	return kernel.ShuntDrop
}

// kernelExclusions is p's port exclusions as the data planes take them:
// one selector per family (a side written "any" stands for both) and per
// way (both is the line read as out and as in).
func kernelExclusions(p *policygroups.Policy) []kernel.Exclusion {
	var out []kernel.Exclusion
	add := func(proto uint8, local, remote policygroups.Endpoint) {
		for _, v4 := range []bool{true, false} {
			l, r := familyPrefix(local.Prefix, v4), familyPrefix(remote.Prefix, v4)
			if !l.IsValid() || !r.IsValid() {
				continue
			}
			x := kernel.Exclusion{Proto: proto, Local: l, Remote: r, LocalPort: local.Port, RemotePort: remote.Port}
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	for _, x := range p.Exclusions() {
		add(x.Proto, x.Local, x.Remote)
		if x.Direction == policygroups.Both {
			add(x.Proto, x.Remote, x.Local)
		}
	}
	return out
}

// familyPrefix is p if it is of the family (IPv4 when v4), the family's /0
// if p is any (invalid), or invalid if p is of the other family.
func familyPrefix(p netip.Prefix, v4 bool) netip.Prefix {
	switch {
	case !p.IsValid() && v4:
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	case !p.IsValid():
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	case p.Addr().Is4() == v4:
		return p
	}
	return netip.Prefix{}
}
