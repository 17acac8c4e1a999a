package tunnel

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

// bigRangePrefixes is rangePrefixes as it was written first, on math/big:
// the reference the two-word arithmetic is checked against.
func bigRangePrefixes(start, end netip.Addr) []netip.Prefix {
	if !start.IsValid() || !end.IsValid() || start.BitLen() != end.BitLen() || end.Less(start) {
		return nil
	}
	bits := start.BitLen()
	s := new(big.Int).SetBytes(start.AsSlice())
	e := new(big.Int).SetBytes(end.AsSlice())
	one := big.NewInt(1)
	var out []netip.Prefix
	for s.Cmp(e) <= 0 {
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

// TestRangePrefixesMatchesBig compares the split of random ranges, IPv4,
// IPv6 and IPv4-mapped, with the math/big reference, near the ends of the
// address space too.
func TestRangePrefixesMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 3))
	addr := func(bits int) netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		switch r.IntN(4) { // ends and runs of ones or zeros
		case 0:
			clear(b[r.IntN(16):])
		case 1:
			for i := r.IntN(16); i < 16; i++ {
				b[i] = 0xff
			}
		}
		if bits == 32 {
			return netip.AddrFrom4([4]byte(b[12:]))
		}
		if r.IntN(3) == 0 {
			copy(b[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		}
		return netip.AddrFrom16(b)
	}
	edges := [][2]string{
		{"0.0.0.0", "255.255.255.255"}, {"0.0.0.0", "0.0.0.0"}, {"255.255.255.255", "255.255.255.255"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, {"::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}, {"::ffff:ffff:ffff:ffff", "0:0:0:1::"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.9"}, {"10.0.0.0", "::1"},
	}
	check := func(s, e netip.Addr) {
		t.Helper()
		got, want := rangePrefixes(s, e), bigRangePrefixes(s, e)
		if !slices.Equal(got, want) {
			t.Fatalf("%s-%s: %v, want %v", s, e, got, want)
		}
	}
	for _, ed := range edges {
		check(netip.MustParseAddr(ed[0]), netip.MustParseAddr(ed[1]))
	}
	for range 2000 {
		bits := 32
		if r.IntN(2) == 0 {
			bits = 128
		}
		s, e := addr(bits), addr(bits)
		if e.Less(s) {
			s, e = e, s
		}
		check(s, e)
		if r.IntN(2) == 0 { // a short range, many small blocks
			check(s, s.Next().Next().Next().Next().Next())
		}
	}
}

// TestPrefixesAllocs: a CHILD SA's selectors become prefixes on every SA
// installed; a host or a subnet costs the list alone.
func TestPrefixesAllocs(t *testing.T) {
	for _, ts := range []ike.TrafficSelector{
		ike.HostSelector(netip.MustParseAddr("198.18.3.4")),
		Selector(netip.MustParsePrefix("10.1.0.0/16")),
		ike.HostSelector(netip.MustParseAddr("2001:db8::7")),
	} {
		tss := []ike.TrafficSelector{ts}
		if n := testing.AllocsPerRun(100, func() { _ = Prefixes(tss) }); n > 1 {
			t.Errorf("Prefixes(%v-%v) allocates %.0f times, want 1 (the list)", ts.Start, ts.End, n)
		}
	}
}
