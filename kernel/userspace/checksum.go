package userspace

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The TCP and UDP checksums of transport-mode ESP-in-UDP (RFC 3948
// §3.1.2). A sender behind a NAT summed its own private address into the
// pseudo header, which the inner header we rebuild no longer carries, so
// the checksum must be fixed before the kernel (and the TUN device's GRO,
// which coalesces only packets whose checksums hold) sees the packet. Yet
// whether a checksum holds for our addresses depends only on the one's
// complement sum of the sender's pseudo-header addresses against ours
// (the protocol and length are the same on both sides), and the sender's
// addresses are fixed for the SA: once one authenticated packet's
// checksum is found intact, every later one is, and the full sum per
// packet (one pass over every octet) can be skipped. A checksum found
// wrong marks the SA for fixing for good. Linux does less: it marks such
// packets CHECKSUM_UNNECESSARY and never looks.
const (
	l4Unknown uint32 = iota // nothing learned yet: fix, and learn
	l4Intact                // the peer's checksums hold for our addresses
	l4Fix                   // they do not (a NAT between): fix every one
)

// fixChecksum fixes the checksum of the opened transport-mode segment
// seg from the SA's peer src to dst, or leaves it when the SA's packets
// have shown theirs intact. ESP authenticated seg: only the pseudo header
// can make its checksum wrong.
func (sa *inSA) fixChecksum(seg []byte, proto uint8, src, dst netip.Addr) {
	st := sa.pair.l4sum.Load()
	if st == l4Intact {
		return
	}
	checked, intact := fixL4Checksum(seg, proto, src, dst)
	switch {
	case st == l4Fix || !checked:
	case intact:
		sa.pair.l4sum.CompareAndSwap(l4Unknown, l4Intact)
	default:
		sa.pair.l4sum.Store(l4Fix)
	}
}

// onesSum adds b, read as big-endian 16-bit words (an odd last byte padded
// with a zero), to the one's-complement sum acc and returns the sum
// unfolded. The Internet checksum is a sum modulo 0xffff, and 2^16 is 1
// modulo 0xffff, so 64-bit words can be added with their carries wrapped
// around: four 16-bit words per addition instead of one, which is what
// makes the transport-mode ESP-in-UDP checksum (fixL4Checksum, once per
// opened packet) cheap.
func onesSum(b []byte, acc uint64) uint64 {
	var c, c2 uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.BigEndian.Uint32(b)) << 16 // any 16-bit lane will do
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	acc, c2 = bits.Add64(acc, tail, c)
	// The carries wrap around: 2^64 is 1 modulo 0xffff. acc+c2 cannot
	// carry again: acc is at most 2^64-2 when c2 is 1.
	return acc + c2
}

// foldSum folds an unfolded one's-complement sum to 16 bits.
func foldSum(acc uint64) uint16 {
	s, c := bits.Add32(uint32(acc>>32), uint32(acc), 0)
	s += uint32(c)
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}
