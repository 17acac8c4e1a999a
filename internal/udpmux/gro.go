package udpmux

import (
	"net/netip"
)

// UDP receive offload (GRO, UDP_GRO) on the NAT-T sockets (Config.GRO).
// The kernel hands over a run of one peer's datagrams (all of one size
// but the last) as one, with the size in a control message. The first
// datagram of the run lies in the slot's pooled buffer as if it had come
// alone; every other one is copied out of the slot's buffer and its
// overflow into a pooled buffer of its own, so that each still reaches
// the sink, or the handler, as a datagram in a buffer with headroom.

// groSlots bounds a GRO socket's slots per read: each has its own
// overflow buffer, and each may carry 64 datagrams.
const groSlots = 8

// splitRun hands on the datagrams of the run of size octets in slot i,
// seg octets each but the last.
func (r *reader) splitRun(i, size, seg int, local, remote netip.AddrPort) {
	b := r.b
	if seg > PayloadSize {
		// No datagram this long is ESP (the MTU bounds those); count the
		// run as one long datagram the pool cannot hold.
		r.m.ctr.overrun.Add(1)
		r.m.log.Debug("udpmux: coalesced run of datagrams longer than a buffer", "local", local, "remote", remote, "segment", seg, "len", size)
		return
	}
	r.m.ctr.groRuns.Add(1)
	ov := b.overflowOf(i)
	for off := 0; off < size; off += seg {
		l := min(seg, size-off)
		if off == 0 {
			r.datagram(b.bufs[i][Headroom:Headroom+l], b.bufs[i], i, false, local, remote)
			continue
		}
		buf := r.m.pool.get()
		dst := buf[Headroom : Headroom+l]
		n := 0
		if off < PayloadSize {
			n = copy(dst, b.bufs[i][Headroom+off:Headroom+PayloadSize])
		}
		if n < l { // the rest, or all of it, spilled into the overflow
			copy(dst[n:], ov[off+n-PayloadSize:])
		}
		r.datagram(dst, buf, -1, false, local, remote)
	}
}
