package tunnel

import (
	"encoding/binary"
	"fmt"
	mbits "math/bits"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// Prefixes turns IKE traffic selectors (address ranges) into the smallest
// list of prefixes covering exactly the same addresses.
func Prefixes(tss []ike.TrafficSelector) []netip.Prefix {
	var out []netip.Prefix
	if len(tss) == 1 {
		out = make([]netip.Prefix, 0, 1) // a host or a subnet: one prefix
	}
	for _, ts := range tss {
		out = appendRangePrefixes(out, ts.Start, ts.End)
	}
	return out
}

// rangePrefixes splits [start, end] into aligned prefixes.
func rangePrefixes(start, end netip.Addr) []netip.Prefix {
	return appendRangePrefixes(nil, start, end)
}

// appendRangePrefixes appends the aligned prefixes that split [start, end]
// to out: at each step the largest block aligned at the start that does not
// pass the end. The arithmetic is on 128-bit integers held in two words,
// so a CHILD SA's selectors cost no allocation beyond the list (math/big
// cost about twenty a selector).
func appendRangePrefixes(out []netip.Prefix, start, end netip.Addr) []netip.Prefix {
	if !start.IsValid() || !end.IsValid() || start.BitLen() != end.BitLen() || end.Less(start) {
		return out
	}
	bits := start.BitLen()
	s, e := toU128(start), toU128(end)
	for {
		// size: the block's host bits, bounded by the alignment of s and
		// by the count of addresses left, e-s+1.
		size := min(s.trailingZeros(), bits)
		if left := e.sub(s); !left.allOnes() {
			size = min(size, left.add1().bitLen()-1)
		}
		out = append(out, netip.PrefixFrom(s.addr(bits), bits-size))
		last := s.add(u128{}.setBit(size).sub(u128{lo: 1})) // s + 2^size - 1
		if last == e {
			return out
		}
		s = last.add1()
	}
}

// u128 is an address as a 128-bit unsigned integer (an IPv4 address in the
// low 32 bits).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(bits int) netip.Addr {
	if bits == 32 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) add(v u128) u128 {
	lo, carry := mbits.Add64(u.lo, v.lo, 0)
	hi, _ := mbits.Add64(u.hi, v.hi, carry)
	return u128{hi, lo}
}

func (u u128) sub(v u128) u128 {
	lo, borrow := mbits.Sub64(u.lo, v.lo, 0)
	hi, _ := mbits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

func (u u128) add1() u128 { return u.add(u128{lo: 1}) }

func (u u128) allOnes() bool { return u.hi == ^uint64(0) && u.lo == ^uint64(0) }

// setBit is u with bit i set (i 128: no bit, the zero value).
func (u u128) setBit(i int) u128 {
	switch {
	case i < 64:
		u.lo |= 1 << i
	case i < 128:
		u.hi |= 1 << (i - 64)
	}
	return u
}

func (u u128) trailingZeros() int {
	if u.lo != 0 {
		return mbits.TrailingZeros64(u.lo)
	}
	return 64 + mbits.TrailingZeros64(u.hi) // 128 for zero
}

func (u u128) bitLen() int {
	if u.hi != 0 {
		return 64 + mbits.Len64(u.hi)
	}
	return mbits.Len64(u.lo)
}

// Selectors turns prefixes into traffic selectors, one each.
func Selectors(ps []netip.Prefix) []ike.TrafficSelector {
	out := make([]ike.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		out = append(out, Selector(p))
	}
	return out
}

// Selector is the traffic selector covering exactly prefix p.
func Selector(p netip.Prefix) ike.TrafficSelector {
	p = p.Masked()
	start := p.Addr()
	b := start.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	end, _ := netip.AddrFromSlice(b)
	ts := ike.HostSelector(start)
	ts.End = end
	return ts
}

// SameSelector reports whether two selectors name the same traffic.
func SameSelector(a, b ike.TrafficSelector) bool {
	return a.Start == b.Start && a.End == b.End && a.IPProtocol == b.IPProtocol &&
		a.StartPort == b.StartPort && a.EndPort == b.EndPort
}

// InRange reports whether a lies inside the selector's address range.
func InRange(ts ike.TrafficSelector, a netip.Addr) bool {
	return ts.Start.BitLen() == a.BitLen() && ts.Start.Compare(a) <= 0 && a.Compare(ts.End) <= 0
}

// CoversHost reports whether any of the selectors holds a.
func CoversHost(tss []ike.TrafficSelector, a netip.Addr) bool {
	for _, ts := range tss {
		if InRange(ts, a) {
			return true
		}
	}
	return false
}

// Text writes selectors as start-end ranges, comma-separated, for logs and
// errors.
func Text(tss []ike.TrafficSelector) string {
	s := ""
	for i, ts := range tss {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%v-%v", ts.Start, ts.End)
	}
	return s
}
