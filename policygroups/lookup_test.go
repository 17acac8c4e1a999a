package policygroups

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// randomPrefix draws prefixes shaped like real policy files: IPv4 networks
// /8 to /32, IPv6 networks /32 to /64, and IPv6 hosts (/128) one time in five.
func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(3) == 0 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, byte(0xb8+r.IntN(2)) // keep it dense enough to nest
		bits := 32 + r.IntN(33)
		if r.IntN(5) == 0 {
			bits = 128
		}
		p, _ := netip.AddrFrom16(b).Prefix(bits)
		return p
	}
	a := netip.AddrFrom4([4]byte{byte(192 + r.IntN(2)), byte(r.IntN(4)), byte(r.UintN(256)), byte(r.UintN(256))})
	p, _ := a.Prefix(8 + r.IntN(25))
	return p
}

func randomPolicy(r *rand.Rand, n int) *Policy {
	seen := map[netip.Prefix]bool{}
	var entries []Entry
	for len(entries) < n {
		p := randomPrefix(r)
		if seen[p] {
			continue
		}
		seen[p] = true
		entries = append(entries, Entry{Prefix: p, Group: Groups[r.IntN(len(Groups))], Source: Position{File: "r", Line: len(entries) + 1}})
	}
	return build(entries)
}

func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(3) == 0 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, byte(0xb8+r.IntN(2))
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{byte(192 + r.IntN(2)), byte(r.IntN(4)), byte(r.UintN(256)), byte(r.UintN(256))})
}

// TestLookupMatchesBruteForce is the property test: for random prefix sets,
// Lookup equals a linear scan for the longest containing prefix.
func TestLookupMatchesBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, seed*7919))
		p := randomPolicy(r, 50+r.IntN(2000))
		all := p.Entries()
		for i := 0; i < 2000; i++ {
			a := randomAddr(r)
			var best *Entry
			for _, e := range all {
				if e.Prefix.Contains(a) && (best == nil || e.Prefix.Bits() > best.Prefix.Bits()) {
					best = &e
				}
			}
			m := p.Lookup(a)
			if g := p.Group(a); g != m.Group {
				t.Fatalf("seed %d: %s: Group %s, Lookup %s", seed, a, g, m.Group)
			}
			switch {
			case best == nil && !m.Default():
				t.Fatalf("seed %d: %s matched %v, brute force found nothing", seed, a, m.Entry.Prefix)
			case best != nil && (m.Default() || m.Entry.Prefix != best.Prefix || m.Group != best.Group):
				t.Fatalf("seed %d: %s: lookup %+v, brute force %+v", seed, a, m.Entry, best)
			}
		}
	}
}

func TestLookupNilAndInvalid(t *testing.T) {
	var p *Policy
	if m := p.Lookup(netip.MustParseAddr("192.0.2.1")); m.Group != Clear || !m.Default() {
		t.Error("nil policy must answer clear")
	}
	q := randomPolicy(rand.New(rand.NewPCG(1, 2)), 10)
	if m := q.Lookup(netip.Addr{}); m.Group != Clear {
		t.Error("invalid address must answer clear")
	}
}

// BenchmarkLookup measures the group decision (Policy.Group) on a
// 1,000,000-prefix policy: what the daemon asks on every acquire and
// responder check.
func BenchmarkLookup(b *testing.B) {
	r := rand.New(rand.NewPCG(42, 43))
	p := randomPolicy(r, 1_000_000)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = randomAddr(r)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Group(addrs[i&4095])
	}
}

// BenchmarkLookupMatch measures Policy.Lookup, the full match with the
// entry's prefix and FILE:LINE (`oemesh policy explain`): one more memory
// access than the decision alone.
func BenchmarkLookupMatch(b *testing.B) {
	r := rand.New(rand.NewPCG(42, 43))
	p := randomPolicy(r, 1_000_000)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = randomAddr(r)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Lookup(addrs[i&4095])
	}
}

// BenchmarkLoad measures reading and indexing a policy directory holding
// 1,000,000 prefixes spread over the five files.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	var files [len(Groups)]strings.Builder
	seen := map[netip.Prefix]bool{}
	for n := 0; n < 1_000_000; {
		p := randomPrefix(r)
		if seen[p] {
			continue
		}
		seen[p] = true
		fmt.Fprintln(&files[r.IntN(len(Groups))], p)
		n++
	}
	for i, g := range Groups {
		if err := os.WriteFile(filepath.Join(dir, g.String()), []byte(files[i].String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		p, _, err := Load(context.Background(), dir, LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if p.Len() != 1_000_000 {
			b.Fatalf("loaded %d prefixes", p.Len())
		}
	}
}

// BenchmarkLookupFamilies separates IPv4 from IPv6 lookups in a 1,000,000
// prefix policy (IPv6 tries are deeper).
func BenchmarkLookupFamilies(b *testing.B) {
	r := rand.New(rand.NewPCG(42, 43))
	p := randomPolicy(r, 1_000_000)
	var v4, v6 []netip.Addr
	for len(v4) < 4096 || len(v6) < 4096 {
		a := randomAddr(r)
		if a.Is4() && len(v4) < 4096 {
			v4 = append(v4, a)
		} else if a.Is6() && len(v6) < 4096 {
			v6 = append(v6, a)
		}
	}
	for _, fam := range []struct {
		name  string
		addrs []netip.Addr
	}{{"v4", v4}, {"v6", v6}} {
		b.Run(fam.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = p.Group(fam.addrs[i&4095])
			}
		})
	}
}
