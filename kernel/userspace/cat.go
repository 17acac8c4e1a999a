package userspace

import (
	"encoding/binary"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
)

// Client address translation (kernel.CAT, Libreswan's leftcat=yes): a
// pair whose local selector is an address the peer leased us carries the
// host's own packets too. Outbound, prepareESP rewrites their source from
// the host's address to the lease before sealing; inbound, openInto
// rewrites the destination of opened packets from the lease back to the
// host's address. The checksums that cover the address (the IPv4
// header's; TCP's, UDP's and ICMPv6's through their pseudo-headers) are
// updated incrementally (RFC 1624), so a packet costs a few additions,
// not a pass over its payload.

// cat is a pair's translation: host is the address the host's packets
// carry, leased the one the peer knows us by.
type cat struct {
	host, leased netip.Addr
}

func newCAT(c *kernel.CAT) *cat {
	if c == nil {
		return nil
	}
	return &cat{host: c.Host, leased: c.Leased}
}

// Offsets of the addresses in the IP headers.
const (
	ipv4SrcOff, ipv4DstOff = 12, 16
	ipv6SrcOff, ipv6DstOff = 8, 24
)

// rewriteAddr replaces the source (src) or destination address of the IP
// packet b, parsed as ip, with to, which must be of the packet's family,
// and fixes the checksums that cover it. ip's address is updated too.
func rewriteAddr(b []byte, ip *ipPacket, src bool, to netip.Addr) {
	old := ip.dst
	if src {
		old = ip.src
	}
	if old == to || old.Is4() != to.Is4() {
		return
	}
	var off int
	switch {
	case !ip.v6 && src:
		off = ipv4SrcOff
	case !ip.v6:
		off = ipv4DstOff
	case src:
		off = ipv6SrcOff
	default:
		off = ipv6DstOff
	}
	var oldB, newB [16]byte
	n := copy(oldB[:], old.AsSlice())
	copy(newB[:], to.AsSlice())
	copy(b[off:off+n], newB[:n])
	if !ip.v6 {
		binary.BigEndian.PutUint16(b[10:12], checksumReplace(binary.BigEndian.Uint16(b[10:12]), oldB[:n], newB[:n]))
	}
	if src {
		ip.src = to
	} else {
		ip.dst = to
	}
	seg := transportSegment(b, ip)
	var at int
	switch ip.l4proto {
	case protoTCP:
		if len(seg) < 20 {
			return
		}
		at = 16
	case protoUDP, protoUDPLit:
		if len(seg) < 8 {
			return
		}
		if !ip.v6 && seg[6] == 0 && seg[7] == 0 {
			return // IPv4 UDP without a checksum
		}
		at = 6
	case protoICMPv6:
		if len(seg) < 4 {
			return
		}
		at = 2
	default:
		return // ICMPv4's checksum covers no addresses; others are left alone
	}
	cs := checksumReplace(binary.BigEndian.Uint16(seg[at:at+2]), oldB[:n], newB[:n])
	if cs == 0 && ip.l4proto != protoTCP {
		cs = 0xffff // zero means "no checksum" to UDP (RFC 768)
	}
	binary.BigEndian.PutUint16(seg[at:at+2], cs)
}

// transportSegment returns the transport header and payload of b, or nil
// when this packet does not hold the transport header (a non-first
// fragment, a truncated extension header chain).
func transportSegment(b []byte, ip *ipPacket) []byte {
	if !ip.v6 {
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return nil
		}
		return b[ip.hdrLen:ip.totalLen]
	}
	l4, _, _ := skipIPv6Ext(b[ipv6HeaderLen:ip.totalLen], b[6])
	return l4
}

// checksumReplace updates the Internet checksum cs of data in which the
// 16-bit words of old became those of new (RFC 1624, eqn. 3:
// HC' = ~(~HC + ~m + m')). old and new have the same even length.
func checksumReplace(cs uint16, old, new []byte) uint16 {
	sum := uint32(^cs)
	for i := 0; i+1 < len(old); i += 2 {
		sum += uint32(^binary.BigEndian.Uint16(old[i:]))
		sum += uint32(binary.BigEndian.Uint16(new[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
