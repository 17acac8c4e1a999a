package userspace

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gaissmai/bart"
)

// TestOutTableMatchesTrie: the outbound index, its hosts apart from its
// trie, answers every look-up as one bart trie holding all the selectors
// would, through persistent changes (adds, replacements and deletions of
// hosts and subnets, IPv4 and IPv6), and a snapshot taken before a change
// still answers as it did.
func TestOutTableMatchesTrie(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	addr := func() netip.Addr {
		if rng.IntN(3) == 0 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rng.IntN(64))})
		}
		return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(3)), byte(rng.IntN(64))})
	}
	prefix := func() netip.Prefix {
		a := addr()
		if rng.IntN(2) == 0 {
			return netip.PrefixFrom(a, a.BitLen())
		}
		return netip.PrefixFrom(a, a.BitLen()-1-rng.IntN(12)).Masked()
	}
	pairs := make([]*pair, 8)
	for i := range pairs {
		pairs[i] = &pair{order: uint64(i)}
	}
	cur, ref := newOutTable(), new(bart.Table[[]*pair])
	check := func(o *outTable, r *bart.Table[[]*pair], when string) {
		t.Helper()
		for range 200 {
			dst := addr()
			got, gok := o.Lookup(dst)
			want, wok := r.Lookup(dst)
			if gok != wok || !slices.Equal(got, want) {
				t.Fatalf("%s: Lookup(%s) = %v %v, the trie's %v %v", when, dst, got, gok, want, wok)
			}
		}
	}
	for step := range 2000 {
		p := prefix()
		before, beforeRef := cur, ref
		if rng.IntN(3) == 0 {
			cur = cur.modify(p, func(old []*pair, ok bool) ([]*pair, bool) { return nil, true })
			ref = ref.DeletePersist(p)
		} else {
			ps := []*pair{pairs[rng.IntN(len(pairs))]}
			cur = cur.modify(p, func(old []*pair, ok bool) ([]*pair, bool) { return append(slices.Clone(ps), old...), false })
			old, _ := ref.Get(p)
			ref = ref.InsertPersist(p, append(slices.Clone(ps), old...))
		}
		if got, gok := cur.Get(p); true {
			want, wok := ref.Get(p)
			if gok != wok || !slices.Equal(got, want) {
				t.Fatalf("step %d: Get(%s) = %v %v, the trie's %v %v", step, p, got, gok, want, wok)
			}
		}
		check(&cur, ref, "after the change")
		if step%50 == 0 {
			check(&before, beforeRef, "the snapshot before the change")
		}
	}
}

// TestSnapshotInstallDenseAllocs: installing and deleting a pair with
// 10,000 installed, its peer among 256 in its /24 (an OE host's peers are
// close together), copies a few small things. In the trie alone the
// host's node was copied with all 256 leaves below it, twice: 543
// allocations.
func TestSnapshotInstallDenseAllocs(t *testing.T) {
	tb, extra := denseTables(t)
	local := netip.MustParseAddr("192.0.2.1")
	n := testing.AllocsPerRun(20, func() { tb.withPair(extra).withoutPair(extra) })
	if n > 30 {
		t.Errorf("a pair installed and deleted among 10,000 allocates %.0f times, want at most 30", n)
	}
	if got := tb.withPair(extra).lookupOut(local, extra.id.Peer); got != extra {
		t.Error("the installed pair is not the newest for its peer")
	}
}
