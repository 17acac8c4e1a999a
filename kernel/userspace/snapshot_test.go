package userspace

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// TestSnapshotUpdatesMatchRebuild applies random installs, replacements,
// removals, traps and shunts both incrementally and by rebuilding the
// tables from scratch, and checks after each step that every lookup the
// data path makes gives the same answer — and that the snapshot published
// before each step is left as it was.
func TestSnapshotUpdatesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	traps := map[netip.Prefix]kernel.Group{}
	pairs := map[kernel.SAPairID]*pair{}
	shunts := map[kernel.Flow]*shunt{}
	cur := buildTables(traps, pairs, shunts)
	local := netip.MustParseAddr("192.0.2.1")
	addr := func() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(1 + rng.IntN(40))}) }
	var order uint64
	newP := func(remote netip.Addr, remotes []netip.Prefix) *pair {
		spa, _ := testPairs(t, local, remote, kernel.ModeTransport, kernel.AESGCM16, false)
		spa.In.SPI = 0x1000 + rng.Uint32N(1<<20)
		spa.Out.SPI = 0x1000 + rng.Uint32N(1<<20)
		spa.Remote = remotes
		order++
		p, err := newPair(spa, time.Unix(1000, 0), order, testSockets())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	spiUsed := func(spi uint32) bool {
		for _, p := range pairs {
			if p.in.spi == spi {
				return true
			}
		}
		return false
	}
	for step := range 3000 {
		before := cur
		beforeRef := buildTables(traps, pairs, shunts)
		switch op := rng.IntN(10); {
		case op < 4: // install a new pair, or replace one with the same ID
			var p *pair
			if len(pairs) > 0 && op == 0 {
				for _, old := range pairs {
					q := newP(old.id.Peer, old.remote)
					q.id, q.in.spi = old.id, old.in.spi
					p = q
					cur = cur.withoutPair(old)
					break
				}
			} else {
				a := addr()
				rs := []netip.Prefix{netip.PrefixFrom(a, 32)}
				if rng.IntN(3) == 0 {
					rs = append(rs, netip.PrefixFrom(a, 24+rng.IntN(8)).Masked())
				}
				p = newP(a, rs)
				if _, dup := pairs[p.id]; dup || spiUsed(p.in.spi) {
					continue
				}
			}
			pairs[p.id] = p
			cur = cur.withPair(p)
		case op < 6: // remove a pair
			for id, p := range pairs {
				delete(pairs, id)
				cur = cur.withoutPair(p)
				break
			}
		case op < 8: // set or remove a trap
			pfx := netip.PrefixFrom(addr(), 16+rng.IntN(17)).Masked()
			if _, ok := traps[pfx]; ok && rng.IntN(2) == 0 {
				delete(traps, pfx)
				cur = cur.withoutTrap(pfx)
			} else {
				g := kernel.Group(rng.IntN(5))
				traps[pfx] = g
				cur = cur.withTrap(pfx, g)
			}
		default: // set or remove a shunt
			f := kernel.Flow{Dst: addr()}
			if _, ok := shunts[f]; ok {
				delete(shunts, f)
			} else {
				shunts[f] = &shunt{s: kernel.Shunt{Flow: f, Kind: kernel.ShuntPass}}
			}
			cur = cur.withShunts(shunts)
		}
		ref := buildTables(traps, pairs, shunts)
		if diff := compareTables(cur, ref, pairs, rng, local); diff != "" {
			t.Fatalf("step %d: incremental snapshot differs from the rebuilt one: %s", step, diff)
		}
		if diff := compareTables(before, beforeRef, nil, rng, local); diff != "" {
			t.Fatalf("step %d: the previous snapshot changed: %s", step, diff)
		}
	}
}

// compareTables looks up the same things in a and b: traps and outbound
// lists for addresses in and around the test range, every inbound SPI of
// pairs, and the shunts.
func compareTables(a, b *tables, pairs map[kernel.SAPairID]*pair, rng *rand.Rand, local netip.Addr) string {
	for x := range 4 {
		for y := range 42 {
			dst := netip.AddrFrom4([4]byte{198, 18, byte(x), byte(y)})
			ga, oka := a.traps.Lookup(dst)
			gb, okb := b.traps.Lookup(dst)
			if ga != gb || oka != okb {
				return "trap for " + dst.String()
			}
			pa, _ := a.out.Lookup(dst)
			pb, _ := b.out.Lookup(dst)
			if !slices.Equal(pa, pb) {
				return "outbound pairs for " + dst.String()
			}
			if a.lookupOut(local, dst) != b.lookupOut(local, dst) {
				return "lookupOut " + dst.String()
			}
		}
	}
	for _, p := range pairs {
		if a.in.get(p.in.spi) != b.in.get(p.in.spi) {
			return "inbound SA for an installed SPI"
		}
	}
	if a.in.len() != b.in.len() {
		return "inbound index size"
	}
	if spi := rng.Uint32(); a.in.get(spi) != b.in.get(spi) {
		return "inbound SA for a random SPI"
	}
	if len(a.shunts) != len(b.shunts) {
		return "shunt count"
	}
	for f, s := range b.shunts {
		if a.shunts[f] != s {
			return "shunt for " + f.Dst.String()
		}
	}
	return ""
}

// BenchmarkSnapshotInstall measures publishing one more SA pair (and
// taking it away again) with 10,000 pairs and 100,000 trap prefixes
// installed: incrementally, as the device does, and by rebuilding the
// tables, as it did before.
func BenchmarkSnapshotInstall(b *testing.B) {
	local := netip.MustParseAddr("192.0.2.1")
	traps := map[netip.Prefix]kernel.Group{}
	for i := range 100000 {
		traps[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)] = kernel.GroupPrivateOrClear
	}
	pairs := map[kernel.SAPairID]*pair{}
	mk := func(i int) *pair {
		remote := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		spa, _ := testPairs(b, local, remote, kernel.ModeTransport, kernel.AESGCM16, false)
		spa.In.SPI, spa.Out.SPI = uint32(0x10000+i), uint32(0x90000+i)
		p, err := newPair(spa, time.Unix(1000, 0), uint64(i+1), testSockets())
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	for i := range 10000 {
		p := mk(i)
		pairs[p.id] = p
	}
	t := buildTables(traps, pairs, nil)
	extra := mk(20000)
	b.Run("incremental", func(b *testing.B) {
		for b.Loop() {
			t.withPair(extra).withoutPair(extra)
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			pairs[extra.id] = extra
			buildTables(traps, pairs, nil)
			delete(pairs, extra.id)
			buildTables(traps, pairs, nil)
		}
	})
}
