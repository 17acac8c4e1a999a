package xfrm

import "net/netip"

// Our policies live in a band of priorities and our SAs in a band of
// reqids; that is how Close and the start-up reconcile find exactly what
// this daemon installed. Lower priority values win in the kernel, whatever
// the prefix length, so the priority is derived from how
// specific the selector is: the most specific policy wins.
const (
	// DefaultPriorityBase is the first priority of our band ("OE" in
	// ASCII). Policies of other daemons or the administrator with a lower
	// value win over ours.
	DefaultPriorityBase uint32 = 0x4f450000
	// PriorityBand is the size of the band.
	PriorityBand uint32 = 0x1000
	// DefaultReqIDBase is the first reqid of our band; traps use it, SA
	// pairs the ones after it.
	DefaultReqIDBase uint32 = 0x4f450000
	// ReqIDBand is the size of the reqid band.
	ReqIDBand uint32 = 0x10000
)

// Classes inside the band, most preferred first: port exclusions (pass
// policies a tunnel must not take, portexcludes.conf), SA policies of a
// negotiated flow, then shunts for single flows, then traps for prefixes.
const (
	classExclusion = 0
	classSA        = 1
	classShunt     = 2
	classTrap      = 3
	classSize      = 0x400
)

// normBits makes prefix lengths of both families comparable: a host is 128.
func normBits(p netip.Prefix) uint32 {
	return uint32(p.Bits() + 128 - p.Addr().BitLen())
}

// priority gives the selector's priority in class: more specific selectors
// (longer prefixes, a protocol, ports) get lower values.
func priority(base uint32, class uint32, s selector) uint32 {
	spec := normBits(s.Dst) + normBits(s.Src)
	if s.Proto != 0 {
		spec++
	}
	if s.SrcPort != 0 {
		spec++
	}
	if s.DstPort != 0 {
		spec++
	}
	return base + class*classSize + (classSize - 1 - spec)
}

// classOf returns the class of a priority in our band, and whether it is in it.
func classOf(base, prio uint32) (uint32, bool) {
	if prio < base || prio >= base+PriorityBand {
		return 0, false
	}
	return (prio - base) / classSize, true
}
