package tunnel

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// Prefixes turns IKE traffic selectors (address ranges) into the smallest
// list of prefixes covering exactly the same addresses.
func Prefixes(tss []ike.TrafficSelector) []netip.Prefix {
	var out []netip.Prefix
	for _, ts := range tss {
		out = append(out, rangePrefixes(ts.Start, ts.End)...)
	}
	return out
}

// rangePrefixes splits [start, end] into aligned prefixes.
func rangePrefixes(start, end netip.Addr) []netip.Prefix {
	if !start.IsValid() || !end.IsValid() || start.BitLen() != end.BitLen() || end.Less(start) {
		return nil
	}
	bits := start.BitLen()
	s := new(big.Int).SetBytes(start.AsSlice())
	e := new(big.Int).SetBytes(end.AsSlice())
	one := big.NewInt(1)
	var out []netip.Prefix
	for s.Cmp(e) <= 0 {
		// The largest block aligned at s that does not pass e.
		size := 0
		for size < bits {
			blk := new(big.Int).Lsh(one, uint(size+1))
			if new(big.Int).Mod(s, blk).Sign() != 0 {
				break
			}
			last := new(big.Int).Add(s, new(big.Int).Sub(blk, one))
			if last.Cmp(e) > 0 {
				break
			}
			size++
		}
		b := make([]byte, bits/8)
		s.FillBytes(b)
		a, _ := netip.AddrFromSlice(b)
		out = append(out, netip.PrefixFrom(a, bits-size))
		s.Add(s, new(big.Int).Lsh(one, uint(size)))
	}
	return out
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
