package ike

import (
	"context"
	"crypto"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// handshakePackets counts the datagrams of a clean handshake.
func handshakePackets(t *testing.T, mod func(*EngineConfig)) int {
	n, a, b := newPair(t, nil, nil, mod)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	return n.sent
}

// checkUp asserts one established IKE SA with one matching CHILD SA on
// each side.
func checkUp(t *testing.T, a, b *testPeer, info ChildSAInfo) {
	t.Helper()
	if len(a.established()) != 1 || len(b.established()) != 1 {
		t.Fatalf("established: A %v, B %v", a.e.SAs(), b.e.SAs())
	}
	if a.inst.count() != 1 || b.inst.count() != 1 {
		t.Fatalf("installed: A %d, B %d", a.inst.count(), b.inst.count())
	}
	checkChildPair(t, a, b, info)
}

func TestHandshakeEachMessageLostOnce(t *testing.T) {
	for _, frag := range []bool{false, true} {
		var mod func(*EngineConfig)
		if frag {
			mod = func(c *EngineConfig) { c.FragmentThreshold = 200 }
		}
		total := handshakePackets(t, mod)
		if frag && total <= 4 {
			t.Fatalf("fragmented handshake has only %d datagrams", total)
		}
		for k := 0; k < total; k++ {
			n, a, b := newPair(t, nil, nil, mod)
			n.filter = func(p *memPacket) int {
				if p.seq == k {
					return 0
				}
				return 1
			}
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
			if err != nil {
				t.Fatalf("frag %v, datagram %d lost: %v", frag, k, err)
			}
			n.drain()
			checkUp(t, a, b, info)
			if st := a.e.Stats(); st.Retransmits == 0 && b.e.Stats().RetransmittedResponses == 0 {
				t.Errorf("datagram %d lost but nothing was retransmitted: %+v", k, st)
			}
		}
	}
}

func TestHandshakeDuplicatesAndReordering(t *testing.T) {
	for _, frag := range []bool{false, true} {
		var mod func(*EngineConfig)
		if frag {
			mod = func(c *EngineConfig) { c.FragmentThreshold = 200 }
		}
		n, a, b := newPair(t, nil, nil, mod)
		n.filter = func(p *memPacket) int { return 2 } // every datagram twice
		n.lifo = true                                  // newest first
		info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if err != nil {
			t.Fatalf("frag %v: %v", frag, err)
		}
		n.drain()
		checkUp(t, a, b, info)
		sa, sb := a.e.Stats(), b.e.Stats()
		if sb.RetransmittedResponses == 0 {
			t.Errorf("frag %v: duplicated requests did not get the cached response: %+v", frag, sb)
		}
		if sa.Drops[DropOldMessageID]+sa.Drops[DropUnexpectedResponse] == 0 {
			t.Errorf("frag %v: duplicate responses were not dropped: %+v", frag, sa)
		}
	}
}

func TestInitiateGiveUp(t *testing.T) {
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.RetransmitBase, c.RetransmitMax, c.GiveUp = 500*time.Millisecond, 4*time.Second, 20*time.Second
	})
	n.filter = func(p *memPacket) int { return 0 } // the peer never hears us
	start := n.clock.Now()
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	took := n.clock.Now().Sub(start)
	if took < 20*time.Second || took > 21*time.Second {
		t.Errorf("gave up after %v, want 20s", took)
	}
	// Sends at 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 and 19.5 s; give up at 20.
	if st := a.e.Stats(); st.Retransmits != 7 || st.Sent != 8 {
		t.Errorf("retransmits %d, sent %d; want 7 and 8", st.Retransmits, st.Sent)
	}
	if len(a.e.SAs()) != 0 || n.clock.Pending() != 0 {
		t.Errorf("state left: %v, %d timers", a.e.SAs(), n.clock.Pending())
	}
}

func TestPeerStopsAnswering(t *testing.T) {
	// Established, then B disappears: A's liveness check goes
	// unanswered, A gives up and cleans up; B's half of the SA is
	// removed when its own liveness check fails too.
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.Liveness, c.GiveUp = 30*time.Second, 10*time.Second
	})
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	n.filter = func(p *memPacket) int { return 0 }
	n.advance(30*time.Second + 10*time.Second + time.Second)
	n.drain()
	if len(a.e.SAs()) != 0 || a.inst.count() != 0 || len(a.inst.allocated) != 0 {
		t.Errorf("A kept state: %v, %d installed", a.e.SAs(), a.inst.count())
	}
	if a.events.down != 1 || a.events.childDown != 1 {
		t.Errorf("A hooks: down %d childDown %d", a.events.down, a.events.childDown)
	}
	if len(b.e.SAs()) != 0 || b.inst.count() != 0 {
		t.Errorf("B kept state: %v", b.e.SAs())
	}
}

func TestLivenessAnswered(t *testing.T) {
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.Liveness = 30 * time.Second })
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	sent := n.sent
	for i := 0; i < 10; i++ {
		n.advance(31 * time.Second)
		n.drain()
	}
	if n.sent == sent {
		t.Error("no liveness checks were sent")
	}
	if len(a.established()) != 1 || len(b.established()) != 1 {
		t.Errorf("SAs went down: A %v B %v", a.e.SAs(), b.e.SAs())
	}
}

func TestInvalidKE(t *testing.T) {
	// A prefers MODP2048 (as Libreswan does); B does not accept it and
	// asks for ECP256.
	n, a, b := newPair(t, nil, nil, nil)
	a.e.cfg.IKE.DH = []DHGroup{DHMODP2048, DHECP256}
	b.e.cfg.IKE.DH = []DHGroup{DHCurve25519, DHECP256}
	var tr Trace
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
	if err != nil {
		t.Fatal(err)
	}
	checkUp(t, a, b, info)
	if len(tr.InvalidKE) != 1 || tr.InvalidKE[0] != DHECP256 || tr.IKESuite.DH != DHECP256 {
		t.Errorf("trace: INVALID_KE %v, suite %v", tr.InvalidKE, tr.IKESuite)
	}
	if len(tr.Exchanges) != 3 {
		t.Errorf("%d exchanges, want 3", len(tr.Exchanges))
	}
	// A group B accepts but does not prefer is taken as sent.
	n, a, b = newPair(t, nil, nil, nil)
	a.e.cfg.IKE.DH = []DHGroup{DHMODP2048}
	tr = Trace{}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, Trace: &tr}); err != nil {
		t.Fatal(err)
	}
	if len(tr.InvalidKE) != 0 || tr.IKESuite.DH != DHMODP2048 {
		t.Errorf("trace: INVALID_KE %v, suite %v", tr.InvalidKE, tr.IKESuite)
	}
	// No common group at all.
	n, a, b = newPair(t, nil, nil, nil)
	a.e.cfg.IKE.DH = []DHGroup{DHMODP2048}
	b.e.cfg.IKE.DH = []DHGroup{DHCurve25519}
	_, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindNull})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen {
		t.Errorf("err = %v, want NO_PROPOSAL_CHOSEN", err)
	}
}

func TestEngineCookies(t *testing.T) {
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.HalfOpenCookieThreshold = -1 })
	var tr Trace
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
	if err != nil {
		t.Fatal(err)
	}
	checkUp(t, a, b, info)
	if !tr.Cookie || b.e.Stats().CookiesSent != 1 {
		t.Errorf("cookie: trace %v, sent %d", tr.Cookie, b.e.Stats().CookiesSent)
	}
	// Cookie and INVALID_KE together, with the cookie reply lost once.
	n, a, b = newPair(t, nil, nil, func(c *EngineConfig) { c.HalfOpenCookieThreshold = -1 })
	a.e.cfg.IKE.DH = []DHGroup{DHMODP2048, DHECP256}
	b.e.cfg.IKE.DH = []DHGroup{DHECP256}
	n.filter = func(p *memPacket) int {
		if p.seq == 1 {
			return 0
		}
		return 1
	}
	tr = Trace{}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr}); err != nil {
		t.Fatal(err)
	}
	if !tr.Cookie || len(tr.InvalidKE) != 1 {
		t.Errorf("trace: cookie %v, INVALID_KE %v", tr.Cookie, tr.InvalidKE)
	}
}

func TestHalfOpenLimits(t *testing.T) {
	// Above the threshold B wants cookies; at the limit it drops.
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.HalfOpenCookieThreshold, c.HalfOpenLimit, c.HalfOpenTimeout = 2, 3, 10*time.Second
	})
	// Three half-open SAs from A: IKE_AUTH never reaches B.
	n.filter = func(p *memPacket) int {
		if h, err := wire.ParseHeader(p.data); err == nil && h.Exchange == wire.IKEAuth {
			return 0
		}
		return 1
	}
	var ins []*initiation
	for i := 0; i < 4; i++ {
		in, _, err := a.e.startInitiate(context.Background(), InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindNull})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
		n.drain()
	}
	st := b.e.Stats()
	if st.HalfOpen != 3 || st.CookiesSent != 1 || st.Drops[DropHalfOpenLimit] != 1 {
		t.Errorf("B: half open %d, cookies %d, limit drops %d; want 3, 1, 1", st.HalfOpen, st.CookiesSent, st.Drops[DropHalfOpenLimit])
	}
	n.advance(11 * time.Second)
	n.drain()
	if st := b.e.Stats(); st.HalfOpen != 0 || st.IKESAs != 0 {
		t.Errorf("B after half-open timeout: %d half open, %d SAs: %+v", st.HalfOpen, st.IKESAs, b.e.SAs())
	}
	n.clock.Advance(time.Minute)
	for i, in := range ins {
		if len(in.done) == 0 {
			t.Errorf("initiation %d never finished", i)
		}
	}
}

func TestNATTraversal(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	// A sits behind a NAT at 198.51.100.7.
	n.nat = &memNAT{inner: addrA, outer: netip.MustParseAddr("198.51.100.7"), ports: map[uint16]uint16{500: 40000, 4500: 40001}}
	var tr Trace
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.LocalBehindNAT || tr.RemoteBehindNAT || !tr.NATT {
		t.Errorf("trace NAT: local %v remote %v natt %v", tr.LocalBehindNAT, tr.RemoteBehindNAT, tr.NATT)
	}
	ca, _ := a.inst.get(info.SPIIn)
	if !ca.Encap || ca.EncapLocal != 4500 || ca.EncapRemote != 4500 {
		t.Errorf("A CHILD SA encap %v %d->%d", ca.Encap, ca.EncapLocal, ca.EncapRemote)
	}
	cb, _ := b.inst.get(ca.SPIOut)
	if !cb.Encap || cb.EncapRemote != 40001 || cb.EncapLocal != 4500 {
		t.Errorf("B CHILD SA encap %v %d->%d", cb.Encap, cb.EncapLocal, cb.EncapRemote)
	}
	for _, p := range n.log[2:] {
		if p.from.Port() != 4500 || p.to.Port() != 4500 && p.to.Port() != 40001 {
			t.Errorf("after IKE_SA_INIT a datagram went %v -> %v", p.from, p.to)
		}
	}
	bs := b.established()[0]
	if !bs.NATT || bs.Remote.Port() != 40001 {
		t.Errorf("B's SA: natt %v remote %v", bs.NATT, bs.Remote)
	}
	// A, behind the NAT, keeps the mapping open; B does not need to.
	n.advance(time.Minute + time.Second)
	ka, kb := a.e.cfg.Sender.(*memSender).keepalives, b.e.cfg.Sender.(*memSender).keepalives
	if ka != 3 || kb != 0 {
		t.Errorf("keepalives: A %d, B %d; want 3 and 0 in a minute", ka, kb)
	}
}

func TestPeerMovesTo4500WithoutNAT(t *testing.T) {
	// strongSwan floats to 4500 after IKE_SA_INIT even without a NAT:
	// rewrite A's datagrams after the first as if A did that.
	n, a, b := newPair(t, nil, nil, nil)
	n.filter = func(p *memPacket) int {
		if p.seq > 0 && p.from.Addr() == addrA {
			p.from, p.to = netip.AddrPortFrom(addrA, 4500), netip.AddrPortFrom(addrB, 4500)
		}
		return 1
	}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if err != nil {
		t.Fatal(err)
	}
	checkUp(t, a, b, info)
	bs := b.established()[0]
	if !bs.NATT || bs.Remote.Port() != 4500 || bs.Local.Port() != 4500 {
		t.Errorf("B did not follow to 4500: %+v", bs)
	}
	last := n.log[len(n.log)-1]
	if last.from != netip.AddrPortFrom(addrB, 4500) {
		t.Errorf("B answered from %v", last.from)
	}
	if cb, _ := b.inst.get(b.established()[0].Children[0].SPIIn); cb.Encap {
		t.Error("ESP encapsulated without a NAT")
	}
}

// slowKeys blocks PeerKeys until released, like a DNS lookup.
type slowKeys struct {
	inner   *fakeKeys
	called  chan struct{}
	release chan struct{}
}

func (k *slowKeys) PeerKeys(ctx context.Context, peer Identity, remote netip.Addr) ([]crypto.PublicKey, error) {
	k.called <- struct{}{}
	<-k.release
	return k.inner.PeerKeys(ctx, peer, remote)
}

func TestKeyLookupDoesNotBlock(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	sk := &slowKeys{inner: b.keys, called: make(chan struct{}, 1), release: make(chan struct{})}
	b.e.cfg.Keys = sk
	b.e.spawn = func(f func()) { go f() }
	n.sentc = make(chan struct{}, 1)
	in, _, err := a.e.startInitiate(context.Background(), InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
	if err != nil {
		t.Fatal(err)
	}
	// IKE_SA_INIT both ways, then IKE_AUTH reaches B, whose HandlePacket
	// returns while the lookup hangs.
	n.drain()
	guard := time.After(30 * time.Second) // a hang guard, not a protocol wait
	select {
	case <-sk.called:
	case <-guard:
		t.Fatal("B never looked up A's key")
	}
	// A retransmits IKE_AUTH; B is still busy with the first copy.
	if !n.clock.Step(time.Minute) {
		t.Fatal("no retransmission timer")
	}
	n.drain()
	if got := b.e.Stats().Drops[DropBusy]; got != 1 {
		t.Errorf("busy drops %d, want 1", got)
	}
	<-n.sentc // drain the signal of A's retransmission
	close(sk.release)
	select {
	case <-n.sentc: // B's IKE_AUTH response
	case <-guard:
		t.Fatal("B never answered after the lookup")
	}
	n.run(func() bool { return len(in.done) > 0 }, time.Minute)
	if r := <-in.done; r.err != nil {
		t.Fatal(r.err)
	}
}

func TestLateDuplicateInit(t *testing.T) {
	// A copy of the IKE_SA_INIT request that arrives after the SA is up
	// must not start a second SA.
	n, a, b := upPair(t, nil)
	init := n.log[0]
	before := b.e.Stats()
	b.e.HandlePacket(init.data, init.to, init.from)
	st := b.e.Stats()
	if st.IKESAs != 1 || st.HalfOpen != 0 || st.Drops[DropOldMessageID] != before.Drops[DropOldMessageID]+1 || st.Sent != before.Sent {
		t.Errorf("late duplicate: %d SAs, %d half open, drops %v, sent %d more", st.IKESAs, st.HalfOpen, st.Drops, st.Sent-before.Sent)
	}
	// After the half-open timeout the entry is gone; the SA is not.
	n.advance(31 * time.Second)
	b.e.mu.Lock()
	entries := len(b.e.halfOpen)
	b.e.mu.Unlock()
	if entries != 0 || len(b.established()) != 1 {
		t.Errorf("%d IKE_SA_INIT entries, %d SAs", entries, len(b.established()))
	}
	checkConsistent(t, a, b, 1)
}

func TestAuthFailureAnswerLost(t *testing.T) {
	// B refuses A; the refusal is lost once. A's retransmission gets it
	// again from the lingering SA, so A learns why instead of timing out.
	n, a, b := newPair(t, nil, nil, nil)
	b.keys.keys[AddrIdentity(a.addr).String()] = []crypto.PublicKey{newEd25519(t).Public()}
	n.filter = func(p *memPacket) int {
		if p.seq == 3 { // B's IKE_AUTH answer
			return 0
		}
		return 1
	}
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Fatalf("err = %v, want AUTHENTICATION_FAILED", err)
	}
	if b.e.Stats().RetransmittedResponses != 1 {
		t.Errorf("refusal resent %d times", b.e.Stats().RetransmittedResponses)
	}
	n.advance(time.Minute)
	if st := b.e.Stats(); st.IKESAs != 0 || st.HalfOpen != 0 {
		t.Errorf("B keeps %d SAs, %d half open", st.IKESAs, st.HalfOpen)
	}
}
