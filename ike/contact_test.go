package ike

import (
	"context"
	"crypto"
	"net/netip"
	"testing"
	"time"
)

// secondFlow is what a second flow to the same peer asks for: tunnel mode
// to another host behind (or another address of) the peer.
func secondFlow(p *testPeer) InitiateOptions {
	return InitiateOptions{Auth: AuthKindPubkey, InitialContact: true, Mode: ModeTunnel,
		TSi: []TrafficSelector{HostSelector(p.addr)},
		TSr: []TrafficSelector{HostSelector(netip.MustParseAddr("192.0.2.12"))}}
}

// takeQueued removes the queued datagrams that match f, in order.
func (n *memNet) takeQueued(f func(memPacket) bool) []memPacket {
	n.mu.Lock()
	defer n.mu.Unlock()
	var keep, out []memPacket
	for _, p := range n.queue {
		if f(p) {
			out = append(out, p)
		} else {
			keep = append(keep, p)
		}
	}
	n.queue = keep
	return out
}

func (n *memNet) requeue(ps []memPacket) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, ps...)
}

// TestInitialContactSecondSA: A, which holds an IKE SA with B, sets up a
// second one for another flow and asks for INITIAL_CONTACT. The engine
// leaves it out, so B keeps both SAs (B would have deleted the first:
// it was established before the second's IKE_SA_INIT, between the same
// identities).
func TestInitialContactSecondSA(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, InitialContact: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.initiate(a, b, secondFlow(a)); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if got := len(b.established()); got != 2 || b.inst.count() != 2 || len(a.established()) != 2 || a.inst.count() != 2 {
		t.Errorf("B holds %d IKE SAs and %d CHILD SAs, A %d and %d; want 2 of each on both", got, b.inst.count(), len(a.established()), a.inst.count())
	}
}

// TestInitialContactConcurrentSAs: two flows to B start at the same
// instant, both asking for INITIAL_CONTACT. Whichever reaches IKE_AUTH
// first sees the other being set up, and the other sees it: neither
// carries the notify and both SAs stay.
func TestInitialContactConcurrentSAs(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	first := InitiateOptions{Mode: ModeTunnel, Auth: AuthKindPubkey, InitialContact: true, Local: a.addr, Remote: netip.AddrPortFrom(b.addr, 500)}
	second := secondFlow(a)
	second.Local, second.Remote = a.addr, first.Remote
	in1, sa1, err := a.e.startInitiate(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	in2, sa2, err := a.e.startInitiate(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	n.run(func() bool { return len(in1.done) > 0 && len(in2.done) > 0 }, time.Minute)
	for _, x := range []struct {
		sa *ikeSA
		in *initiation
	}{{sa1, in1}, {sa2, in2}} {
		if _, err := x.sa.awaitInitiate(t.Context(), x.in); err != nil {
			t.Fatal(err)
		}
	}
	n.drain()
	if got := len(b.established()); got != 2 || b.inst.count() != 2 {
		t.Errorf("B holds %d IKE SAs and %d CHILD SAs, want 2 and 2", got, b.inst.count())
	}
}

// TestInitialContactAlone: with no other SA with the peer, the notify is
// sent, and the peer deletes the SAs of the restarted host (the engine at
// the same address that had them is gone).
func TestInitialContactAlone(t *testing.T) {
	n, a, b := upPair(t, nil)
	a2 := n.addPeer(addrA, a.signer, nil)
	a2.trust(b)
	if _, err := n.initiate(a2, b, InitiateOptions{Auth: AuthKindPubkey, InitialContact: true}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if got := len(b.established()); got != 1 || b.inst.count() != 1 {
		t.Errorf("B holds %d IKE SAs and %d CHILD SAs after A restarted, want 1 and 1", got, b.inst.count())
	}
}

// TestInitialContactSparesNewerSA: A restarts (A2) and sets up an SA with
// INITIAL_CONTACT; while that one is under way, B sets up one toward A2
// (its trap on a reply, say), which is established at B before A2's
// IKE_AUTH arrives. B deletes the SA of the old A, established before
// A2's IKE_SA_INIT, and keeps the one with A2.
func TestInitialContactSparesNewerSA(t *testing.T) {
	n, a, b := upPair(t, nil)
	old := b.established()[0].ID
	a2 := n.addPeer(addrA, a.signer, nil)
	a2.trust(b)
	b.trust(a2)
	opts := InitiateOptions{Mode: ModeTunnel, Auth: AuthKindPubkey, InitialContact: true, Local: a2.addr, Remote: netip.AddrPortFrom(b.addr, 500)}
	inX, saX, err := a2.e.startInitiate(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n.deliverOne() // X's IKE_SA_INIT reaches B, which answers
	n.deliverOne() // the answer reaches A2, which sends IKE_AUTH with the notify (it holds nothing else)
	authX := n.takeQueued(func(p memPacket) bool { return p.to.Addr() == b.addr })
	if len(authX) != 1 {
		t.Fatalf("%d datagrams from A2 to B, want its IKE_AUTH", len(authX))
	}
	// B's SA Y toward A2, all the way up, while X's IKE_AUTH is held.
	inY, saY, err := b.e.startInitiate(context.Background(), InitiateOptions{Mode: ModeTunnel, Auth: AuthKindPubkey, Local: b.addr, Remote: netip.AddrPortFrom(a2.addr, 500)})
	if err != nil {
		t.Fatal(err)
	}
	n.run(func() bool { return len(inY.done) > 0 }, time.Minute)
	if _, err := saY.awaitInitiate(t.Context(), inY); err != nil {
		t.Fatal(err)
	}
	n.requeue(authX)
	n.run(func() bool { return len(inX.done) > 0 }, time.Minute)
	if _, err := saX.awaitInitiate(t.Context(), inX); err != nil {
		t.Fatal(err)
	}
	n.drain()
	ids := map[SAID]bool{}
	for _, s := range b.established() {
		ids[s.ID] = true
	}
	saY.lock()
	y := saY.id()
	saY.unlock()
	if ids[old] || !ids[y] || len(ids) != 2 {
		t.Errorf("B holds %v; want the SA with A2 it set up (%v) and A2's, not the old A's (%v)", ids, y, old)
	}
}

// TestInitialContactOtherOwnIdentity: B has two addresses and no
// configured identity, so it is a different identity on each. A, which
// holds an SA with B's first address, sets up one with B's second address
// with INITIAL_CONTACT (nothing tells A that both are B). The notify
// concerns only the SAs between A and B's second identity (RFC 7296 §2.4:
// "between the authenticated identities"): the first SA stays.
func TestInitialContactOtherOwnIdentity(t *testing.T) {
	n, a, b := upPair(t, nil)
	b2 := netip.MustParseAddr("192.0.2.12")
	n.mu.Lock()
	n.engines[b2] = b.e
	n.mu.Unlock()
	b.e.cfg.Sender.(*memSender).also = b2
	a.keys.mu.Lock()
	a.keys.keys[AddrIdentity(b2).String()] = []crypto.PublicKey{b.signer.Public()}
	a.keys.mu.Unlock()
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, InitialContact: true, Remote: netip.AddrPortFrom(b2, 500)}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if got := len(b.established()); got != 2 || b.inst.count() != 2 {
		t.Errorf("B holds %d IKE SAs and %d CHILD SAs, want 2 and 2: %v", got, b.inst.count(), b.established())
	}
}

// TestInitialContactForSomeoneElse: B has one identity (Credentials.ID)
// and two addresses. A, holding an SA with B, reaches B's second address
// asking for the identity of that address (it does not know yet that B
// answers there) with INITIAL_CONTACT. The notify is about that other
// identity: B deletes nothing, and A refuses B's answer.
func TestInitialContactForSomeoneElse(t *testing.T) {
	n, a, b := upPair(t, nil)
	b.e.cfg.Credentials.ID = AddrIdentity(addrB)
	b2 := netip.MustParseAddr("192.0.2.12")
	n.mu.Lock()
	n.engines[b2] = b.e
	n.mu.Unlock()
	b.e.cfg.Sender.(*memSender).also = b2
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, InitialContact: true, Remote: netip.AddrPortFrom(b2, 500), PeerID: AddrIdentity(b2)})
	if err == nil {
		t.Fatal("A accepted B's identity for B2's")
	}
	n.drain()
	if got := len(b.established()); got != 1 || b.inst.count() != 1 {
		t.Errorf("B holds %d IKE SAs and %d CHILD SAs, want its first SA with A: %v", got, b.inst.count(), b.established())
	}
}
