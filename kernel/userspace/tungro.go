package userspace

import (
	"bytes"
	"encoding/binary"
	"sync"
)

// Room for the TUN device's GRO. tun.Device.Write coalesces the packets of
// one TCP (or UDP) flow in a batch by appending each payload to the
// flow's first packet, in that packet's own buffer, as far as the
// buffer's capacity allows. A pooled packet buffer holds about 9 KiB, so
// a run of 1,400-byte segments went to the kernel six at a time: a 64
// KiB train from the socket became ten writes to the TUN device, each a
// trip through the peer's TCP receive path. wireguard-go gives every
// buffer 64 KiB; we keep the small buffers and, just before the write,
// move the head of each run of one flow into a buffer of groHeadSize, so
// that the run coalesces up to what one IP packet can carry (65,535
// octets). That costs one copy of one packet per run.

const (
	// groHeadSize holds the virtio-net header room and the largest IP
	// packet. tun.Device.Write lets a head grow to its capacity less the
	// offset twice (groRunMax): the packet stays a valid IP packet even
	// if it ever counts the offset once.
	groHeadSize = tunOffset + 65535
	groRunMax   = groHeadSize - 2*tunOffset
	// groHeadsMax bounds the heads one write moves: a batch of socketBatch
	// full-sized packets of one flow needs two.
	groHeadsMax = 8
)

// groHeads lends the large buffers the heads of runs are moved into. The
// TUN writer owns it; the buffers come back after each write (release),
// and a pool lets the collector have them when bulk traffic stops.
type groHeads struct {
	pool  sync.Pool // of *[groHeadSize]byte
	taken []*[groHeadSize]byte
}

// promote moves the head of each run of packets of one flow in out into
// a large buffer, up to groHeadsMax of them. A run is consecutive TCP or
// UDP packets with equal addresses and ports whose total, headers once,
// fits groRunMax; out's elements start tunOffset octets before their IP
// packet, as tun.Device.Write takes them. A run the TUN device's GRO then
// does not coalesce (a gap in the sequence, a PSH) only cost the copy.
func (g *groHeads) promote(out [][]byte) {
	h := -1    // the current run's head in out
	total := 0 // the run's IP packet size once coalesced
	for i := range out {
		pkt := out[i][tunOffset:]
		hdr := groKeyLen(pkt)
		if h >= 0 && hdr > 0 && hdr == groKeyLen(out[h][tunOffset:]) && sameFlow(pkt, out[h][tunOffset:]) &&
			total+len(pkt)-hdr <= groRunMax {
			total += len(pkt) - hdr
			if len(g.taken) < groHeadsMax && cap(out[h]) < groHeadSize {
				out[h] = g.take(out[h])
			}
			continue
		}
		h, total = -1, 0
		if hdr > 0 {
			h, total = i, len(pkt)
		}
	}
}

// take copies pkt (with its tunOffset octets of room) into a large buffer
// and returns the copy, its capacity that of the largest IP packet.
func (g *groHeads) take(pkt []byte) []byte {
	b, _ := g.pool.Get().(*[groHeadSize]byte)
	if b == nil {
		b = new([groHeadSize]byte)
	}
	g.taken = append(g.taken, b)
	n := copy(b[:], pkt)
	return b[:n:groHeadSize]
}

// release returns the large buffers of the last write to the pool.
func (g *groHeads) release() {
	for i, b := range g.taken {
		g.pool.Put(b)
		g.taken[i] = nil
	}
	g.taken = g.taken[:0]
}

// groKeyLen returns the length of the headers that name pkt's flow (IP
// header and the ports) when pkt is a candidate for the TUN device's
// GRO, TCP or UDP in IPv4 without options or in IPv6 with a payload;
// else 0. It is the header length the coalesced size counts once.
func groKeyLen(pkt []byte) int {
	if len(pkt) < 1 {
		return 0
	}
	var iph int
	var proto byte
	switch pkt[0] >> 4 {
	case 4:
		if pkt[0]&0x0f != 5 || len(pkt) < ipv4HeaderLen {
			return 0
		}
		iph, proto = ipv4HeaderLen, pkt[9]
	case 6:
		if len(pkt) < ipv6HeaderLen {
			return 0
		}
		iph, proto = ipv6HeaderLen, pkt[6]
	default:
		return 0
	}
	switch proto {
	case protoTCP:
		if len(pkt) < iph+20 {
			return 0
		}
		tcph := int(pkt[iph+12]>>4) * 4
		if tcph < 20 || len(pkt) <= iph+tcph {
			return 0
		}
		return iph + tcph
	case protoUDP:
		if len(pkt) <= iph+8 {
			return 0
		}
		return iph + 8
	}
	return 0
}

// sameFlow reports whether a and b, both GRO candidates (groKeyLen), have
// the same version, protocol, addresses and ports.
func sameFlow(a, b []byte) bool {
	if a[0]>>4 != b[0]>>4 {
		return false
	}
	if a[0]>>4 == 4 {
		return a[9] == b[9] && bytes.Equal(a[12:20], b[12:20]) &&
			binary.BigEndian.Uint32(a[20:]) == binary.BigEndian.Uint32(b[20:])
	}
	return a[6] == b[6] && bytes.Equal(a[8:40], b[8:40]) &&
		binary.BigEndian.Uint32(a[40:]) == binary.BigEndian.Uint32(b[40:])
}
