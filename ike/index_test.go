package ike

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The indexes of childindex.go and peeraddrindex.go (with peerindex.go):
// each answers as the scan it replaced, and its cost does not grow with
// the number of SAs.

// bareEngine is an engine for the index tests: SAs enter it through
// register, as the initiator's and a rekey's successor's do, without a
// handshake.
func bareEngine(tb testing.TB) *Engine {
	e, err := NewEngine(EngineConfig{Sender: &memSender{n: newMemNet(tb), self: addrA}, Installer: newFakeInstaller(1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func spiOf(i int) SPI { return SPI{1, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)} }

func addrOf(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}) }

// findChildScan is findChild as it was: every SA, each under its lock.
func findChildScan(e *Engine, spi uint32) *ikeSA {
	for _, sa := range e.sas {
		sa.lock()
		c := sa.childByIn(spi)
		sa.unlock()
		if c != nil {
			return sa
		}
	}
	return nil
}

// holdsOtherSAScan is holdsOtherSA as it was: samePeer against every SA.
func holdsOtherSAScan(e *Engine, sa *ikeSA) bool {
	for _, o := range e.sas {
		if o != sa && !o.peerGone && sa.peer.samePeer(o.peer) {
			return true
		}
	}
	return false
}

// TestFindChildIndex: CHILD SAs added, moved to a successor (IKE rekey),
// dropped, and their IKE SAs' death: findChild finds each one where a
// scan of every IKE SA does, and nothing the scan would not.
func TestFindChildIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	e := bareEngine(t)
	var sas []*ikeSA
	nextSPI := uint32(0x1000)
	for step := range 3000 {
		switch r := rng.IntN(10); {
		case r < 3 || len(sas) == 0: // a new IKE SA with a CHILD SA
			sa := &ikeSA{e: e, initiator: true, spii: spiOf(step), remote: netip.AddrPortFrom(addrOf(step%50), 500)}
			e.register(sa)
			sa.lock()
			sa.addChild(&childSA{childCore: childCore{SPIIn: nextSPI}, state: childInstalled})
			sa.unlock()
			nextSPI++
			sas = append(sas, sa)
		case r < 5: // another CHILD SA
			sa := sas[rng.IntN(len(sas))]
			sa.lock()
			sa.addChild(&childSA{childCore: childCore{SPIIn: nextSPI}, state: childLarval})
			sa.unlock()
			nextSPI++
		case r < 7: // drop one
			sa := sas[rng.IntN(len(sas))]
			sa.lock()
			if len(sa.children) > 0 {
				c := sa.children[rng.IntN(len(sa.children))]
				c.state = childDead // removeChild does nothing more
				sa.dropChild(c, nil)
			}
			sa.unlock()
		case r < 8: // an IKE rekey moves them all
			i := rng.IntN(len(sas))
			old := sas[i]
			n := &ikeSA{e: e, initiator: true, spii: spiOf(100000 + step), remote: old.remote}
			e.register(n)
			old.lock()
			old.moveChildren(n)
			old.unlock()
			sas = append(sas, n)
		default: // an IKE SA dies with its CHILD SAs
			i := rng.IntN(len(sas))
			sa := sas[i]
			sa.lock()
			for _, c := range sa.children {
				c.state = childDead
			}
			sa.die(nil, false)
			sa.unlock()
			sas = append(sas[:i], sas[i+1:]...)
		}
		if step%100 == 99 {
			for spi := uint32(0x1000); spi < nextSPI+2; spi++ {
				if got, want := e.findChild(spi), findChildScan(e, spi); got != want {
					t.Fatalf("step %d: findChild(%#x) = %p, a scan finds %p", step, spi, got, want)
				}
			}
		}
	}
}

// TestHoldsOtherSAIndex: SAs with peers by address and by identity (FQDNs
// in other cases, NULL, none), initiators that asked for an identity,
// established SAs that proved another, dead and forgotten SAs:
// holdsOtherSA answers as samePeer against every SA.
func TestHoldsOtherSAIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := bareEngine(t)
	anID := func() Identity {
		k := rng.IntN(300)
		switch rng.IntN(5) {
		case 0:
			return Identity{}
		case 1:
			return NullIdentity()
		case 2:
			return FQDNIdentity(fmt.Sprintf("h%d.example", k))
		case 3:
			return FQDNIdentity(fmt.Sprintf("H%d.Example.", k)) // the same name
		}
		return AddrIdentity(addrOf(k))
	}
	var sas []*ikeSA
	answers := map[bool]int{}
	for step := range 3000 {
		switch r := rng.IntN(10); {
		case r < 4 || len(sas) == 0:
			sa := &ikeSA{e: e, spii: spiOf(step), remote: netip.AddrPortFrom(addrOf(rng.IntN(400)), 500)}
			if rng.IntN(2) == 0 { // an initiator asking for an identity
				sa.initiator = true
				sa.init = &initiation{opts: InitiateOptions{PeerID: anID()}, finished: true}
			} else {
				sa.spir = spiOf(step)
				sa.peerID = anID()
			}
			e.register(sa)
			sas = append(sas, sa)
		case r < 6: // established: the peer proved an identity
			e.notePeerUp(sas[rng.IntN(len(sas))], anID())
		case r < 7: // dead, lingering
			e.notePeerGone(sas[rng.IntN(len(sas))])
		case r < 8: // forgotten
			i := rng.IntN(len(sas))
			e.forget(sas[i])
			sas = append(sas[:i], sas[i+1:]...)
		default: // checked
			sa := sas[rng.IntN(len(sas))]
			e.mu.Lock()
			want := holdsOtherSAScan(e, sa)
			e.mu.Unlock()
			if got := e.holdsOtherSA(sa); got != want {
				t.Fatalf("step %d: holdsOtherSA(%v, %v) = %v, a scan says %v", step, sa.peer.addr, sa.peer.id, got, want)
			}
			answers[want]++
		}
	}
	if answers[true] < 50 || answers[false] < 50 {
		t.Errorf("checked %d SAs with another and %d without: too few of one to test", answers[true], answers[false])
	}
}

// benchFindChild times findChild of one CHILD SA among n IKE SAs with one
// each.
func benchFindChild(b *testing.B, n int) {
	e := bareEngine(b)
	for i := range n {
		sa := &ikeSA{e: e, initiator: true, spii: spiOf(i), remote: netip.AddrPortFrom(addrOf(i), 500)}
		e.register(sa)
		sa.lock()
		sa.addChild(&childSA{childCore: childCore{SPIIn: uint32(0x1000 + i)}, state: childInstalled})
		sa.unlock()
	}
	spi := uint32(0x1000 + n/2)
	b.ReportAllocs()
	for b.Loop() {
		if e.findChild(spi) == nil {
			b.Fatal("findChild missed the CHILD SA")
		}
	}
}

// benchHoldsOtherSA times the INITIAL_CONTACT check of a new initiation
// to a peer with no other SA, among n SAs with other peers.
func benchHoldsOtherSA(b *testing.B, n int) {
	e := bareEngine(b)
	for i := range n {
		sa := &ikeSA{e: e, spii: spiOf(i), spir: spiOf(i), remote: netip.AddrPortFrom(addrOf(i), 500)}
		e.register(sa)
		e.notePeerUp(sa, AddrIdentity(addrOf(i)))
	}
	a := netip.MustParseAddr("192.0.2.1")
	sa := &ikeSA{e: e, initiator: true, spii: spiOf(n + 1), remote: netip.AddrPortFrom(a, 500),
		init: &initiation{opts: InitiateOptions{PeerID: AddrIdentity(a)}, finished: true}}
	e.register(sa)
	b.ReportAllocs()
	for b.Loop() {
		if e.holdsOtherSA(sa) {
			b.Fatal("holdsOtherSA found an SA with a peer that has none")
		}
	}
}

// BenchmarkFindChild: a CHILD SA's lifetime, a local rekey or delete
// finding its IKE SA, with N IKE SAs up.
func BenchmarkFindChild(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("sas=%d", n), func(b *testing.B) { benchFindChild(b, n) })
	}
}

// BenchmarkHoldsOtherSA: an initiation's INITIAL_CONTACT check with N
// IKE SAs up.
func BenchmarkHoldsOtherSA(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("sas=%d", n), func(b *testing.B) { benchHoldsOtherSA(b, n) })
	}
}

// TestIndexesFlat: findChild and holdsOtherSA at 10,000 SAs cost about
// what they cost at 100. The scans they replace cost about 100 times
// more; the bound leaves room for a loaded machine.
func TestIndexesFlat(t *testing.T) {
	for _, c := range []struct {
		name  string
		bench func(*testing.B, int)
	}{{"findChild", benchFindChild}, {"holdsOtherSA", benchHoldsOtherSA}} {
		small := testing.Benchmark(func(b *testing.B) { c.bench(b, 100) })
		large := testing.Benchmark(func(b *testing.B) { c.bench(b, 10000) })
		ratio := float64(large.NsPerOp()) / float64(max(small.NsPerOp(), 1))
		t.Logf("%s: %d ns at 100 SAs, %d ns at 10,000 (%.1f×)", c.name, small.NsPerOp(), large.NsPerOp(), ratio)
		if ratio > 8 {
			t.Errorf("%s costs %.1f× more at 10,000 SAs than at 100: it scans", c.name, ratio)
		}
	}
}

// TestChildIndexShrinks: after a burst, the CHILD SA index is re-made at
// its size (a Go map keeps the buckets of its peak), keeping every entry
// left; an entry re-pointed to a successor is not forgotten for the SA
// it left.
func TestChildIndexShrinks(t *testing.T) {
	var x childIndex
	a, b := &ikeSA{}, &ikeSA{}
	const n, keep = 2000, 100
	for i := range uint32(n) {
		x.set(i, a)
	}
	x.set(0, b) // moved to a successor
	x.forget(0, a)
	if x.get(0) != b {
		t.Fatal("forget for the SA a CHILD SA left took it from its successor")
	}
	for i := uint32(1); i < n-keep; i++ {
		x.forget(i, a)
	}
	if x.peak > n/mapShrinkFactor {
		t.Errorf("peak %d after %d of %d left: the map was not re-made", x.peak, len(x.m), n)
	}
	for i := uint32(n - keep); i < n; i++ {
		if x.get(i) != a {
			t.Fatalf("entry %d lost in the re-make", i)
		}
	}
}
