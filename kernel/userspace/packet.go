package userspace

import (
	"encoding/binary"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
)

// IP protocol numbers the data plane looks at.
const (
	protoICMP   = 1
	protoIPIP   = 4 // next header of an IPv4 packet in tunnel mode
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41 // next header of an IPv6 packet in tunnel mode
	protoFrag6  = 44
	protoESP    = 50
	protoICMPv6 = 58
	protoSCTP   = 132
	protoUDPLit = 136

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// ipPacket is what the data plane needs from an IP header. It is parsed
// without allocating; payload is a slice of the packet.
type ipPacket struct {
	v6       bool
	src, dst netip.Addr
	proto    uint8  // IPv4 protocol or IPv6 next header after the fixed header
	l4proto  uint8  // transport protocol after IPv6 extension headers
	hdrLen   int    // IPv4 header with options, or 40
	totalLen int    // the packet's length from its header (trailing bytes cut)
	frag     bool   // a fragment (IPv4 MF or offset, or an IPv6 fragment header)
	sport    uint16 // ports, or ICMP type and code as XFRM selectors use them
	dport    uint16
	tos, ttl uint8
}

// parseIP parses an IPv4 or IPv6 packet. ok is false for anything that is
// not a well-formed IP header whose lengths fit in b.
func parseIP(b []byte) (p ipPacket, ok bool) {
	if len(b) < 1 {
		return p, false
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < ipv4HeaderLen {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < ipv4HeaderLen || total < ihl || total > len(b) {
			return p, false
		}
		fragField := binary.BigEndian.Uint16(b[6:8])
		p = ipPacket{
			src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20])),
			proto: b[9], l4proto: b[9], hdrLen: ihl, totalLen: total,
			frag: fragField&0x3fff != 0, tos: b[1], ttl: b[8],
		}
		if fragField&0x1fff == 0 {
			l4 = b[ihl:total]
		}
	case 6:
		if len(b) < ipv6HeaderLen {
			return p, false
		}
		total := ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
		if total > len(b) {
			return p, false
		}
		p = ipPacket{
			v6:  true,
			src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40])),
			proto: b[6], hdrLen: ipv6HeaderLen, totalLen: total,
			tos: byte(binary.BigEndian.Uint16(b[0:2]) >> 4), ttl: b[7],
		}
		l4, p.l4proto, p.frag = skipIPv6Ext(b[ipv6HeaderLen:total], b[6])
	default:
		return p, false
	}
	switch p.l4proto {
	case protoTCP, protoUDP, protoSCTP, protoUDPLit:
		if len(l4) >= 4 {
			p.sport = binary.BigEndian.Uint16(l4[0:2])
			p.dport = binary.BigEndian.Uint16(l4[2:4])
		}
	case protoICMP, protoICMPv6:
		if len(l4) >= 2 {
			p.sport, p.dport = uint16(l4[0]), uint16(l4[1])
		}
	}
	return p, true
}

// skipIPv6Ext walks hop-by-hop, routing, fragment and destination options
// headers to the transport header. l4 is nil when a non-first fragment or a
// truncated chain hides it.
func skipIPv6Ext(b []byte, next uint8) (l4 []byte, proto uint8, frag bool) {
	for range 8 {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return nil, next, frag
			}
			n := (int(b[1]) + 1) * 8
			if n > len(b) {
				return nil, next, frag
			}
			next, b = b[0], b[n:]
		case protoFrag6:
			if len(b) < 8 {
				return nil, next, true
			}
			frag = true
			if binary.BigEndian.Uint16(b[2:4])&0xfff8 != 0 {
				return nil, b[0], true
			}
			next, b = b[0], b[8:]
		default:
			return b, next, frag
		}
	}
	return nil, next, frag
}

// flow returns the flow a packet belongs to, as acquires and shunts name it.
func (p *ipPacket) flow() kernel.Flow {
	return kernel.Flow{Src: p.src, Dst: p.dst, Proto: p.l4proto, SrcPort: p.sport, DstPort: p.dport}
}

// writeIPv4Header writes a 20-byte IPv4 header for a packet of total bytes
// into h, with the header checksum.
func writeIPv4Header(h []byte, src, dst netip.Addr, proto, tos, ttl uint8, total int) {
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:4], uint16(total))
	binary.BigEndian.PutUint32(h[4:8], 0) // id 0, no flags, offset 0
	h[8] = ttl
	h[9] = proto
	h[10], h[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	binary.BigEndian.PutUint16(h[10:12], ipv4Checksum(h[:ipv4HeaderLen]))
}

// writeIPv6Header writes a 40-byte IPv6 header for payloadLen bytes.
func writeIPv6Header(h []byte, src, dst netip.Addr, next, tclass, hop uint8, payloadLen int) {
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(tclass)<<20)
	binary.BigEndian.PutUint16(h[4:6], uint16(payloadLen))
	h[6] = next
	h[7] = hop
	s, d := src.As16(), dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i : i+2]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// fixL4Checksum recomputes the TCP or UDP checksum of seg for the pseudo
// header src, dst. Transport-mode ESP-in-UDP needs it (RFC 3948 §3.1.2):
// behind a NAT the sender computed the checksum over addresses that the
// rebuilt inner header no longer carries. An IPv4 UDP checksum of zero
// (none) stays zero; other protocols are left alone. checked says it
// computed a checksum, and intact that seg already carried that one.
func fixL4Checksum(seg []byte, proto uint8, src, dst netip.Addr) (checked, intact bool) {
	var at int
	switch proto {
	case protoTCP:
		if len(seg) < 20 {
			return false, false
		}
		at = 16
	case protoUDP:
		if len(seg) < 8 || (src.Is4() && seg[6] == 0 && seg[7] == 0) {
			return false, false
		}
		at = 6
	default:
		return false, false
	}
	old := binary.BigEndian.Uint16(seg[at:])
	seg[at], seg[at+1] = 0, 0
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = uint64(binary.BigEndian.Uint32(s[:])) + uint64(binary.BigEndian.Uint32(d[:]))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 4 {
			sum += uint64(binary.BigEndian.Uint32(s[i:])) + uint64(binary.BigEndian.Uint32(d[i:]))
		}
	}
	sum += uint64(proto) + uint64(len(seg))
	sum = uint64(foldSum(onesSum(seg, sum)))
	cs := ^uint16(sum)
	if cs == 0 && proto == protoUDP {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(seg[at:], cs)
	return true, cs == old
}
