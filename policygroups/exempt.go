package policygroups

import (
	"net/netip"
	"slices"
)

// Exemption is a host the daemon takes out of OE whatever the files say:
// its own DNS servers, whose traffic must never wait for a negotiation
// that needs their answers to finish (the DNS deadlock).
type Exemption struct {
	Addr netip.Addr
	// Reason says why, e.g. "DNS server from /etc/resolv.conf"; `oemesh
	// policy explain` shows it.
	Reason string
}

// Exempted is one exemption that took effect.
type Exempted struct {
	Exemption
	// Overrides is what the files say for the address: a group that
	// initiates OE.
	Overrides Match
}

// ExemptGroup is the group of an exempted host: our own traffic to it
// goes clear (the data planes pass it, no acquire), while the host may
// still set up OE with us if it wants to.
const ExemptGroup = ClearOrPrivate

// exemptLine marks an entry the daemon added (an Exemption), not a line of
// a file.
const exemptLine = -1

// Exempt returns p with each exemption whose address lies in a group that
// initiates OE (private, private-or-clear) made a host prefix in
// ExemptGroup, and the exemptions that took effect. An address the files
// already leave to a group that does not initiate (clear, clear-or-private,
// block) is left alone: its traffic cannot deadlock, and a block is the
// administrator's to keep. p itself is not changed; with no exemption in
// effect Exempt returns p.
func (p *Policy) Exempt(ex []Exemption) (*Policy, []Exempted) {
	var done []Exempted
	hosts := map[netip.Prefix]string{}
	for _, e := range ex {
		a := e.Addr.Unmap().WithZone("")
		if !a.IsValid() {
			continue
		}
		h := netip.PrefixFrom(a, a.BitLen())
		if _, dup := hosts[h]; dup {
			continue // the first reason stands
		}
		m := p.Lookup(a)
		if !m.Group.Initiates() {
			continue
		}
		hosts[h] = e.Reason
		done = append(done, Exempted{Exemption: Exemption{Addr: a, Reason: e.Reason}, Overrides: m})
	}
	if len(done) == 0 {
		return p, nil
	}
	q := newEmptyPolicy("")
	if p != nil {
		q.files, q.excl = p.files, p.excl
	}
	es := make([]entry, 0, p.Len()+len(hosts))
	if p != nil {
		for _, e := range p.entries {
			if _, ok := hosts[e.prefix]; !ok {
				es = append(es, e)
			}
		}
	}
	for h := range hosts {
		es = append(es, entry{prefix: h, line: exemptLine, group: ExemptGroup})
	}
	slices.SortFunc(es, func(a, b entry) int { return comparePrefix(a.prefix, b.prefix) })
	q.exempt = hosts
	q.index(es) // no repeated prefix: each host replaced any entry of its own
	return q, done
}
