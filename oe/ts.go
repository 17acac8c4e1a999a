package oe

import (
	"math/big"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// selectorPrefixes turns IKE traffic selectors (address ranges) into the
// smallest list of prefixes covering exactly the same addresses.
func selectorPrefixes(tss []ike.TrafficSelector) []netip.Prefix {
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

// hostOf reports the single address a selector list names, if it names
// exactly one host.
func hostOf(tss []ike.TrafficSelector) (netip.Addr, bool) {
	if len(tss) != 1 || tss[0].Start != tss[0].End {
		return netip.Addr{}, false
	}
	return tss[0].Start, true
}
