package ike

import (
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// The responder's side of IKE_FOLLOWUP_KE under bad, unexpected and
// missing requests, and the fuzz target of its request handling.

// followupResponder starts A's CHILD SA rekey with ML-KEM-768 on a
// followupPair and loses A's IKE_FOLLOWUP_KE requests, so that B waits
// for one. The function it returns sends B an IKE_FOLLOWUP_KE request
// with the given payloads, protected with A's keys and carrying the
// message ID of A's outstanding request, and returns B's answer
// decrypted (nil when it sent none). link is B's link data.
func followupResponder(t testing.TB) (send func(ps ...wire.Payload) *wire.Message, link []byte, n *memNet, a, b *testPeer, done chan error) {
	t.Helper()
	n, a, b = followupPair(t, nil)
	n.filter = func(p *memPacket) int {
		h, err := wire.ParseHeader(p.data)
		if err == nil && h.Exchange == wire.IKEFollowupKE && !h.IsResponse() {
			return 0
		}
		return 1
	}
	sa := a.liveSA(t)
	spi := a.onlyChild(t)
	done = make(chan error, 1)
	sa.lock()
	err := sa.rekeyChildLocked(spi, DHCurve25519, done)
	sa.unlock()
	if err != nil {
		t.Fatal(err)
	}
	n.run(func() bool {
		sa.lock()
		defer sa.unlock()
		return sa.pending != nil && sa.pending.exch == wire.IKEFollowupKE
	}, time.Second)
	sb := b.liveSA(t)
	sb.lock()
	if sb.followup == nil {
		sb.unlock()
		t.Fatal("B has no additional key exchange under way")
	}
	link = sb.followup.link
	sb.unlock()
	send = func(ps ...wire.Payload) *wire.Message {
		sa.lock()
		id := sa.nextID - 1
		if sa.pending != nil {
			id = sa.pending.msgID
		}
		m := &wire.Message{Header: wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: wire.IKEFollowupKE, MessageID: id}, Payloads: ps}
		if sa.initiator {
			m.Flags |= wire.FlagInitiator
		}
		pkt, err := m.MarshalEncrypted(sa.cout)
		cin, from, to := sa.cin, sa.local, sa.remote
		sa.unlock()
		if err != nil {
			return nil
		}
		n.mu.Lock()
		n.log, n.queue = n.log[:0], n.queue[:0]
		n.mu.Unlock()
		b.e.HandlePacket(pkt, to, from)
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, p := range n.log {
			r, err := wire.ParseMessage(p.data)
			if err != nil || r.Exchange != wire.IKEFollowupKE || !r.IsResponse() {
				continue
			}
			if err := r.Decrypt(cin); err != nil {
				t.Fatalf("B's IKE_FOLLOWUP_KE response does not decrypt: %v", err)
			}
			return r
		}
		return nil
	}
	return send, link, n, a, b, done
}

// TestFollowupKEBadRequest: B answers an IKE_FOLLOWUP_KE with a bad
// ML-KEM-768 key, the wrong method or no KE with INVALID_SYNTAX, one with
// other link data or none with STATE_NOT_FOUND; each time it drops the
// half-made CHILD SA and gives its SPI back, the old CHILD SA stays, and
// a new rekey works.
func TestFollowupKEBadRequest(t *testing.T) {
	k, err := StartKeyExchange(DHMLKEM768, nil)
	if err != nil {
		t.Fatal(err)
	}
	ek := k.Public()
	bad := append([]byte(nil), ek...)
	bad[0], bad[1] = 0xff, 0xff // a coefficient not reduced modulo q
	for _, tc := range []struct {
		name   string
		ps     func(link []byte) []wire.Payload
		notify wire.NotifyType
	}{
		{"short key", func(l []byte) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: ek[:len(ek)-1]}, linkNotify(l)}
		}, wire.NotifyInvalidSyntax},
		{"bad encoding", func(l []byte) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: bad}, linkNotify(l)}
		}, wire.NotifyInvalidSyntax},
		{"wrong method", func(l []byte) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: DHMLKEM1024, Data: ek}, linkNotify(l)}
		}, wire.NotifyInvalidSyntax},
		{"no KE", func(l []byte) []wire.Payload { return []wire.Payload{linkNotify(l)} }, wire.NotifyInvalidSyntax},
		{"other link", func(l []byte) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: ek}, linkNotify(append([]byte{1}, l...))}
		}, wire.NotifyStateNotFound},
		{"no link", func([]byte) []wire.Payload { return []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: ek}} }, wire.NotifyStateNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send, link, n, a, b, done := followupResponder(t)
			before := b.inst.count()
			allocated := len(b.inst.allocatedSPIs())
			r := send(tc.ps(link)...)
			if r == nil || r.Notify(tc.notify) == nil {
				t.Fatalf("response %v, want %v", r, tc.notify)
			}
			sb := b.liveSA(t)
			sb.lock()
			pending, children := sb.followup, len(sb.children)
			sb.unlock()
			if pending != nil || children != 1 {
				t.Errorf("B keeps the exchange (%v) or %d CHILD SAs, want 1", pending != nil, children)
			}
			if got := len(b.inst.allocatedSPIs()); got != allocated-1 || b.inst.count() != before {
				t.Errorf("B: %d SPIs allocated (was %d), %d installed (was %d)", got, allocated, b.inst.count(), before)
			}
			// A's rekey ends (B answered its message ID), the old SA stays.
			n.filter = nil
			n.mu.Lock()
			n.queue = append(n.queue, n.log...)
			n.mu.Unlock()
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err == nil {
				t.Error("A's rekey succeeded")
			}
			n.drain()
			checkConsistent(t, a, b, 1)
			d2 := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatalf("rekey after the refusal: %v", err)
			}
			n.drain()
			checkConsistent(t, a, b, 1)
		})
	}
}

func linkNotify(l []byte) *wire.Notify {
	return &wire.Notify{NotifyType: wire.NotifyAdditionalKeyExchange, Data: l}
}

// TestFollowupKEUnexpected: an IKE_FOLLOWUP_KE with no CREATE_CHILD_SA
// before it gets STATE_NOT_FOUND; both IKE SAs stay up and usable.
func TestFollowupKEUnexpected(t *testing.T) {
	n, a, b := followupPair(t, nil)
	sa := a.liveSA(t)
	k, err := StartKeyExchange(DHMLKEM768, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *wire.Message, 1)
	sa.lock()
	sa.enqueue(&request{exch: wire.IKEFollowupKE, payloads: []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: k.Public()}, linkNotify([]byte{0x42})},
		onResponse: func(m *wire.Message) { got <- m }})
	sa.unlock()
	n.run(func() bool { return len(got) > 0 }, time.Minute)
	if m := <-got; m.Notify(wire.NotifyStateNotFound) == nil {
		t.Errorf("response %v, want STATE_NOT_FOUND", m.Payloads)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	done := startChildRekey(t, b, b.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
}

// TestFollowupKEAbandoned: when A's IKE_FOLLOWUP_KE never arrives, both
// sides give up after the give-up time: A's rekey fails (and, as after
// any unanswered request, A's IKE SA is gone), B drops the half-made
// CHILD SA and its SPI, and keeps the old CHILD SA.
func TestFollowupKEAbandoned(t *testing.T) {
	_, _, n, _, b, done := followupResponder(t)
	allocated := len(b.inst.allocatedSPIs())
	n.run(func() bool { return len(done) > 0 }, 5*time.Minute)
	if err := <-done; err == nil {
		t.Fatal("A's rekey succeeded without its IKE_FOLLOWUP_KE")
	}
	n.advance(time.Minute)
	sb := b.liveSA(t)
	sb.lock()
	pending, children := sb.followup, len(sb.children)
	sb.unlock()
	if pending != nil || children != 1 {
		t.Errorf("B keeps the exchange (%v) or %d CHILD SAs, want 1", pending != nil, children)
	}
	if got := len(b.inst.allocatedSPIs()); got != allocated-1 || b.inst.count() != 1 {
		t.Errorf("B: %d SPIs allocated, want %d; %d CHILD SAs installed, want 1", got, allocated-1, b.inst.count())
	}
}

// FuzzFollowupKERequest feeds a responder waiting for an IKE_FOLLOWUP_KE
// arbitrary KE payloads (method and data) and link data, protected with
// the initiator's keys so that they reach the handler. It must not panic,
// and it answers with the ML-KEM-768 ciphertext, INVALID_SYNTAX or
// STATE_NOT_FOUND, never holding the exchange after a refusal.
func FuzzFollowupKERequest(f *testing.F) {
	k, err := StartKeyExchange(DHMLKEM768, nil)
	if err != nil {
		f.Fatal(err)
	}
	ek := k.Public()
	f.Add(uint16(DHMLKEM768), ek, true, []byte(nil))
	f.Add(uint16(DHMLKEM768), ek[:100], true, []byte(nil))
	f.Add(uint16(DHMLKEM1024), ek, true, []byte(nil))
	f.Add(uint16(DHCurve25519), make([]byte, 32), false, []byte{1})
	f.Add(uint16(0), []byte(nil), true, []byte{0x42})
	f.Fuzz(func(t *testing.T, group uint16, data []byte, ourLink bool, link []byte) {
		send, l, _, _, b, _ := followupResponder(t)
		ps := []wire.Payload{&wire.KE{Group: DHGroup(group), Data: data}}
		if ourLink {
			link = l
		}
		if len(link) > 0 {
			ps = append(ps, linkNotify(link))
		}
		r := send(ps...)
		if r == nil {
			return
		}
		ke, _ := r.Get(wire.PayloadKE).(*wire.KE)
		good := ke != nil && ke.Group == DHMLKEM768 && len(ke.Data) == 1088
		if !good && r.Notify(wire.NotifyInvalidSyntax) == nil && r.Notify(wire.NotifyStateNotFound) == nil {
			t.Errorf("response %v, want an ML-KEM-768 ciphertext, INVALID_SYNTAX or STATE_NOT_FOUND", r.Payloads)
		}
		sb := b.liveSA(t)
		sb.lock()
		defer sb.unlock()
		if !good && (sb.followup != nil || len(sb.children) != 1) {
			t.Errorf("after a refusal B keeps the exchange (%v) or %d CHILD SAs", sb.followup != nil, len(sb.children))
		}
	})
}

// allocatedSPIs lists the SPIs f handed out and has not had back.
func (f *fakeInstaller) allocatedSPIs() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint32
	for spi := range f.allocated {
		out = append(out, spi)
	}
	return out
}
