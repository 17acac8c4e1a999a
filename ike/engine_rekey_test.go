package ike

import (
	"fmt"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// liveSA returns p's one established IKE SA.
func (p *testPeer) liveSA(t testing.TB) *ikeSA {
	t.Helper()
	var out []*ikeSA
	for _, sa := range p.e.allSAs() {
		sa.lock()
		if sa.state == stEstablished {
			out = append(out, sa)
		}
		sa.unlock()
	}
	if len(out) != 1 {
		t.Fatalf("%v has %d established IKE SAs", p.addr, len(out))
	}
	return out[0]
}

// onlyChild returns the inbound SPI of p's one installed CHILD SA.
func (p *testPeer) onlyChild(t testing.TB) uint32 {
	t.Helper()
	p.inst.mu.Lock()
	defer p.inst.mu.Unlock()
	if len(p.inst.installed) != 1 {
		t.Fatalf("%v has %d CHILD SAs installed", p.addr, len(p.inst.installed))
	}
	for spi := range p.inst.installed {
		return spi
	}
	return 0
}

// checkConsistent asserts that A and B hold the same CHILD SA pairs.
func checkConsistent(t *testing.T, a, b *testPeer, want int) {
	t.Helper()
	if a.inst.count() != want || b.inst.count() != want {
		t.Fatalf("installed: A %d, B %d; want %d each", a.inst.count(), b.inst.count(), want)
	}
	a.inst.mu.Lock()
	var spis []uint32
	for spi := range a.inst.installed {
		spis = append(spis, spi)
	}
	a.inst.mu.Unlock()
	for _, spi := range spis {
		checkChildPair(t, a, b, ChildSAInfo{SPIIn: spi})
	}
}

func startChildRekey(t *testing.T, p *testPeer, spi uint32, pfs DHGroup) chan error {
	t.Helper()
	sa := p.e.findChild(spi)
	done := make(chan error, 1)
	sa.lock()
	err := sa.rekeyChildLocked(spi, pfs, done)
	sa.unlock()
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func startIKERekey(t *testing.T, p *testPeer) chan error {
	t.Helper()
	sa := p.liveSA(t)
	done := make(chan error, 1)
	sa.lock()
	err := sa.rekeyIKELocked(done)
	sa.unlock()
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func upPair(t testing.TB, mod func(*EngineConfig)) (*memNet, *testPeer, *testPeer) {
	t.Helper()
	n, a, b := newPair(t, nil, nil, mod)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	return n, a, b
}

func TestRekeyChild(t *testing.T) {
	for _, pfs := range []DHGroup{DHNone, DHCurve25519, DHECP256} {
		for _, from := range []string{"A", "B"} {
			t.Run(fmt.Sprintf("%v/from%s", pfs, from), func(t *testing.T) {
				n, a, b := upPair(t, nil)
				p := a
				if from == "B" {
					p = b
				}
				old := p.onlyChild(t)
				done := startChildRekey(t, p, old, pfs)
				n.run(func() bool { return len(done) > 0 }, time.Minute)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				n.drain()
				checkConsistent(t, a, b, 1)
				if p.onlyChild(t) == old {
					t.Error("CHILD SA not replaced")
				}
				c, _ := p.inst.get(p.onlyChild(t))
				if c.Replaces != old {
					t.Errorf("new SA replaces %08x, want %08x", c.Replaces, old)
				}
				info := p.e.SAs()[0].Children[0]
				if info.PFS != pfs {
					t.Errorf("PFS %v, want %v", info.PFS, pfs)
				}
			})
		}
	}
}

func TestRekeyChildEachMessageLost(t *testing.T) {
	// CREATE_CHILD_SA, then the Delete of the old SA: 4 datagrams.
	for k := 0; k < 4; k++ {
		n, a, b := upPair(t, nil)
		base := n.sent
		n.filter = func(p *memPacket) int {
			if p.seq == base+k {
				return 0
			}
			return 1
		}
		done := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
		n.run(func() bool { return len(done) > 0 }, time.Minute)
		if err := <-done; err != nil {
			t.Fatalf("datagram %d lost: %v", k, err)
		}
		n.run(func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return len(n.queue) == 0 && a.liveSA(t).pending == nil
		}, time.Minute)
		checkConsistent(t, a, b, 1)
	}
}

func TestRekeyChildCollision(t *testing.T) {
	// Both sides rekey the same CHILD SA at once; the nonce rule leaves
	// exactly one new pair, whichever side wins.
	wins := map[bool]int{}
	for i := 0; i < 12; i++ {
		n, a, b := upPair(t, nil)
		oldA, oldB := a.onlyChild(t), b.onlyChild(t)
		da := startChildRekey(t, a, oldA, DHNone)
		db := startChildRekey(t, b, oldB, DHNone)
		n.run(func() bool { return len(da) > 0 && len(db) > 0 }, time.Minute)
		if err := <-da; err != nil {
			t.Fatalf("A: %v", err)
		}
		if err := <-db; err != nil {
			t.Fatalf("B: %v", err)
		}
		n.advance(time.Second)
		checkConsistent(t, a, b, 1)
		spi := a.onlyChild(t)
		if spi == oldA {
			t.Fatal("old SA survived")
		}
		c, _ := a.inst.get(spi)
		wins[c.Initiator]++
	}
	if wins[true] == 0 || wins[false] == 0 {
		t.Logf("collision outcomes: %v (both should occur with random nonces)", wins)
	}
}

func TestRekeyIKE(t *testing.T) {
	for _, from := range []string{"A", "B"} {
		t.Run("from"+from, func(t *testing.T) {
			n, a, b := upPair(t, nil)
			p := a
			if from == "B" {
				p = b
			}
			oldID := a.liveSA(t).id()
			child := a.onlyChild(t)
			done := startIKERekey(t, p)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			na, nb := a.liveSA(t), b.liveSA(t)
			if na.id() == oldID || na.id() != nb.id() {
				t.Fatalf("after rekey: A %v, B %v, old %v", na.id(), nb.id(), oldID)
			}
			if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 {
				t.Fatalf("old SA not deleted: A %v B %v", a.e.SAs(), b.e.SAs())
			}
			checkConsistent(t, a, b, 1)
			if a.onlyChild(t) != child || len(a.e.SAs()[0].Children) != 1 {
				t.Errorf("CHILD SA did not move to the new IKE SA")
			}
			if a.events.down != 0 || b.events.down != 0 || a.events.childDown != 0 {
				t.Errorf("rekey reported SAs down")
			}
			// The new SA works: rekey the CHILD SA over it, then delete.
			d2 := startChildRekey(t, a, child, DHNone)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			checkConsistent(t, a, b, 1)
			deleteAndCheck(t, n, a, b)
		})
	}
}

func TestRekeyIKECollision(t *testing.T) {
	for i := 0; i < 8; i++ {
		n, a, b := upPair(t, nil)
		da := startIKERekey(t, a)
		db := startIKERekey(t, b)
		n.run(func() bool { return len(da) > 0 && len(db) > 0 }, time.Minute)
		<-da
		<-db
		n.advance(5 * time.Second)
		if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 {
			t.Fatalf("round %d: A %v\nB %v", i, a.e.SAs(), b.e.SAs())
		}
		if a.liveSA(t).id() != b.liveSA(t).id() {
			t.Fatalf("different surviving SAs")
		}
		checkConsistent(t, a, b, 1)
		if len(a.e.SAs()[0].Children) != 1 || len(b.e.SAs()[0].Children) != 1 {
			t.Fatalf("CHILD SA lost its IKE SA")
		}
	}
}

// deleteAndCheck deletes A's IKE SA and checks both sides are clean.
func deleteAndCheck(t *testing.T, n *memNet, a, b *testPeer) {
	t.Helper()
	sa := a.liveSA(t)
	done := make(chan error, 1)
	sa.lock()
	sa.deleteLocked(done)
	sa.unlock()
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 || a.inst.count() != 0 || b.inst.count() != 0 {
		t.Fatalf("after delete: A %v B %v", a.e.SAs(), b.e.SAs())
	}
	if a.events.down != 1 || b.events.down != 1 {
		t.Errorf("OnIKEDown: A %d B %d", a.events.down, b.events.down)
	}
}

func TestDeleteIKE(t *testing.T) {
	n, a, b := upPair(t, nil)
	deleteAndCheck(t, n, a, b)
}

func TestDeleteChild(t *testing.T) {
	n, a, b := upPair(t, nil)
	sa := a.liveSA(t)
	done := make(chan error, 1)
	sa.lock()
	sa.deleteChildLocked(sa.childByIn(a.onlyChild(t)), done)
	sa.unlock()
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 0)
	if len(a.established()) != 1 || len(b.established()) != 1 {
		t.Error("IKE SA went with the CHILD SA")
	}
}

func TestDeleteRaces(t *testing.T) {
	t.Run("child", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		da, db := make(chan error, 1), make(chan error, 1)
		for _, x := range []struct {
			p    *testPeer
			done chan error
		}{{a, da}, {b, db}} {
			sa := x.p.liveSA(t)
			sa.lock()
			sa.deleteChildLocked(sa.childByIn(x.p.onlyChild(t)), x.done)
			sa.unlock()
		}
		n.run(func() bool { return len(da) > 0 && len(db) > 0 }, time.Minute)
		n.drain()
		checkConsistent(t, a, b, 0)
		if len(a.established()) != 1 || len(b.established()) != 1 {
			t.Error("IKE SA went with the CHILD SA")
		}
	})
	t.Run("ike", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		da, db := make(chan error, 1), make(chan error, 1)
		for _, x := range []struct {
			p    *testPeer
			done chan error
		}{{a, da}, {b, db}} {
			sa := x.p.liveSA(t)
			sa.lock()
			sa.deleteLocked(x.done)
			sa.unlock()
		}
		n.run(func() bool { return len(da) > 0 && len(db) > 0 }, time.Minute)
		n.drain()
		if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 || a.inst.count() != 0 || b.inst.count() != 0 {
			t.Fatalf("left: A %v B %v", a.e.SAs(), b.e.SAs())
		}
		if ea, eb := <-da, <-db; ea != nil || eb != nil {
			t.Errorf("crossing deletes reported %v and %v", ea, eb)
		}
	})
	t.Run("rekey-vs-delete", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		dr := startChildRekey(t, a, a.onlyChild(t), DHNone)
		dd := make(chan error, 1)
		sa := b.liveSA(t)
		sa.lock()
		sa.deleteChildLocked(sa.childByIn(b.onlyChild(t)), dd)
		sa.unlock()
		n.run(func() bool { return len(dr) > 0 && len(dd) > 0 }, time.Minute)
		n.advance(time.Second)
		// Whatever survives, both sides agree on it.
		checkConsistent(t, a, b, a.inst.count())
	})
	t.Run("delete-vs-ike-rekey", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		dr := startIKERekey(t, a)
		dd := make(chan error, 1)
		sa := b.liveSA(t)
		sa.lock()
		sa.deleteLocked(dd)
		sa.unlock()
		n.run(func() bool { return len(dr) > 0 && len(dd) > 0 }, time.Minute)
		n.advance(time.Minute)
		checkConsistent(t, a, b, a.inst.count())
		if len(a.e.SAs()) != len(b.e.SAs()) {
			t.Errorf("A %v\nB %v", a.e.SAs(), b.e.SAs())
		}
	})
}

func TestLifetimes(t *testing.T) {
	// With short lifetimes the SAs rekey on their own, repeatedly,
	// without ever going down.
	n, a, b := upPair(t, func(c *EngineConfig) {
		c.IKELifetime, c.ChildLifetime, c.RekeyMargin = time.Hour, 20*time.Minute, 2*time.Minute
	})
	for i := 0; i < 12; i++ {
		n.advance(10 * time.Minute)
	}
	checkConsistent(t, a, b, 1)
	if len(a.established()) != 1 || len(b.established()) != 1 {
		t.Fatalf("A %v\nB %v", a.e.SAs(), b.e.SAs())
	}
	if a.events.down+b.events.down != 0 {
		t.Errorf("SAs went down: A %d B %d", a.events.down, b.events.down)
	}
	if a.e.Stats().ChildInstalled < 6 || a.e.Stats().IKEEstablished < 2 {
		t.Errorf("too few rekeys: %+v", a.e.Stats())
	}
}

func TestRekeyInvalidKE(t *testing.T) {
	t.Run("child", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		b.e.cfg.ESP.DH = []DHGroup{DHECP256} // PFS required, with ECP256 only
		done := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
		n.run(func() bool { return len(done) > 0 }, time.Minute)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		n.drain()
		checkConsistent(t, a, b, 1)
		if pfs := a.e.SAs()[0].Children[0].PFS; pfs != DHECP256 {
			t.Errorf("PFS %v, want ECP_256 after INVALID_KE", pfs)
		}
	})
	t.Run("ike", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		b.e.cfg.IKE.DH = []DHGroup{DHECP384}
		done := startIKERekey(t, a)
		n.run(func() bool { return len(done) > 0 }, time.Minute)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		n.advance(time.Second)
		if s := a.liveSA(t).suite; s.DH != DHECP384 {
			t.Errorf("new IKE SA uses %v, want ECP_384 after INVALID_KE", s.DH)
		}
		checkConsistent(t, a, b, 1)
	})
}

func TestAllExchangesDuplicatedAndReordered(t *testing.T) {
	// Every datagram of every exchange twice, newest first.
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.Liveness = time.Minute })
	n.filter = func(p *memPacket) int { return 2 }
	n.lifo = true
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	done := startChildRekey(t, b, b.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.advance(time.Second)
	checkConsistent(t, a, b, 1)
	done = startIKERekey(t, b)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.advance(2 * time.Minute) // liveness on the new SA, twice
	checkConsistent(t, a, b, 1)
	if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 {
		t.Fatalf("A %v\nB %v", a.e.SAs(), b.e.SAs())
	}
	deleteAndCheck(t, n, a, b)
	if a.e.Stats().RetransmittedResponses+b.e.Stats().RetransmittedResponses == 0 {
		t.Error("no duplicate was answered from the response cache")
	}
}

func TestIKERekeyAndDeleteEachMessageLost(t *testing.T) {
	// IKE rekey: request, response, Delete of the old SA and its answer.
	for k := 0; k < 4; k++ {
		n, a, b := upPair(t, nil)
		base := n.sent
		n.filter = func(p *memPacket) int {
			if p.seq == base+k {
				return 0
			}
			return 1
		}
		done := startIKERekey(t, a)
		n.run(func() bool { return len(done) > 0 }, time.Minute)
		if err := <-done; err != nil {
			t.Fatalf("datagram %d lost: %v", k, err)
		}
		n.advance(time.Minute)
		if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 || a.liveSA(t).id() != b.liveSA(t).id() {
			t.Fatalf("datagram %d lost: A %v\nB %v", k, a.e.SAs(), b.e.SAs())
		}
		checkConsistent(t, a, b, 1)
	}
	// Delete: request and answer.
	for k := 0; k < 2; k++ {
		n, a, b := upPair(t, nil)
		base := n.sent
		n.filter = func(p *memPacket) int {
			if p.seq == base+k {
				return 0
			}
			return 1
		}
		deleteAndCheck(t, n, a, b)
	}
}

func TestRekeyTowardsInitiatorWithoutPolicy(t *testing.T) {
	// The probe's engine has no PeerPolicy: it still accepts the peer's
	// rekey of the CHILD SA it set up, and refuses new CHILD SAs.
	n, a, b := newPair(t, nil, nil, nil)
	a.e.cfg.Policy = nil
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	old := b.onlyChild(t)
	done := startChildRekey(t, b, old, DHNone)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	if b.onlyChild(t) == old {
		t.Error("not rekeyed")
	}
	// A brand-new CHILD SA from B is refused.
	sa := b.liveSA(t)
	sa.lock()
	var got error
	fin := make(chan struct{}, 1)
	sa.enqueue(&request{exch: wire.CreateChildSA, payloads: []wire.Payload{
		&wire.SA{Proposals: DefaultESPPolicy().Proposals([]byte{9, 9, 9, 9}, DHNone)}, &wire.Nonce{Data: make([]byte, 32)},
		&wire.TSPayload{Selectors: []TrafficSelector{HostSelector(addrB)}}, &wire.TSPayload{Responder: true, Selectors: []TrafficSelector{HostSelector(addrA)}}},
		onResponse: func(m *wire.Message) { got = errorNotify(m); fin <- struct{}{} }})
	sa.unlock()
	n.run(func() bool { return len(fin) > 0 }, time.Minute)
	if ne, ok := got.(*NotifyError); !ok || ne.Type != wire.NotifyNoAdditionalSAs {
		t.Errorf("new CHILD SA answered %v, want NO_ADDITIONAL_SAS", got)
	}
}
