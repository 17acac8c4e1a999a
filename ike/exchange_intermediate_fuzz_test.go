package ike

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// intermediateResponder sets up a hybrid pair (x25519 + ke1_mlkem768) whose
// initiator has finished IKE_SA_INIT and whose own IKE_INTERMEDIATE request
// was lost, and returns a function that sends the responder one
// IKE_INTERMEDIATE request (message ID 1) with the given payloads, protected
// with the initiator's keys, and returns the responder's answer decrypted
// (nil when it sent none).
func intermediateResponder(t testing.TB) func(ps ...wire.Payload) *wire.Message {
	t.Helper()
	n, a, b := hybridPair(t, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", 0)
	n.filter = func(p *memPacket) int {
		h, err := wire.ParseHeader(p.data)
		if err == nil && h.Exchange == wire.IKEIntermediate && !h.IsResponse() {
			return 0
		}
		return 1
	}
	_, sa, err := a.e.startInitiate(context.Background(), InitiateOptions{Auth: AuthKindPubkey, Remote: netip.AddrPortFrom(b.addr, 500), Local: a.addr, Mode: ModeTunnel})
	if err != nil {
		t.Fatal(err)
	}
	n.drain()
	from, to := netip.AddrPortFrom(a.addr, 500), netip.AddrPortFrom(b.addr, 500)
	return func(ps ...wire.Payload) *wire.Message {
		sa.lock()
		m := &wire.Message{Header: wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: wire.IKEIntermediate, Flags: wire.FlagInitiator, MessageID: 1}, Payloads: ps}
		pkt, err := m.MarshalEncrypted(sa.cout)
		cin := sa.cin
		local := sa.local
		sa.unlock()
		if err != nil {
			return nil // payloads that do not encode (a fuzzed KE of 64 KiB)
		}
		if local.IsValid() && local.Port() != 500 {
			from = local
		}
		n.mu.Lock()
		n.log, n.queue = n.log[:0], n.queue[:0]
		n.mu.Unlock()
		b.e.HandlePacket(pkt, to, from)
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, p := range n.log {
			r, err := wire.ParseMessage(p.data)
			if err != nil || r.Exchange != wire.IKEIntermediate || !r.IsResponse() {
				continue
			}
			if err := r.Decrypt(cin); err != nil {
				t.Fatalf("responder's IKE_INTERMEDIATE response does not decrypt: %v", err)
			}
			return r
		}
		return nil
	}
}

// TestIntermediateBadKE: the responder answers a good ML-KEM-768 key with its
// ciphertext, and a key of the wrong length or encoding, the wrong method or
// no KE at all with INVALID_SYNTAX.
func TestIntermediateBadKE(t *testing.T) {
	k, err := StartKeyExchange(DHMLKEM768, nil)
	if err != nil {
		t.Fatal(err)
	}
	ek := k.Public()
	bad := append([]byte(nil), ek...)
	bad[0], bad[1] = 0xff, 0xff // a coefficient not reduced modulo q
	for _, tc := range []struct {
		name string
		ps   []wire.Payload
		ok   bool
	}{
		{"good", []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: ek}}, true},
		{"short", []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: ek[:len(ek)-1]}}, false},
		{"encoding", []wire.Payload{&wire.KE{Group: DHMLKEM768, Data: bad}}, false},
		{"method", []wire.Payload{&wire.KE{Group: DHMLKEM1024, Data: ek}}, false},
		{"no KE", []wire.Payload{&wire.Nonce{Data: make([]byte, 32)}}, false},
	} {
		send := intermediateResponder(t)
		r := send(tc.ps...)
		if r == nil {
			t.Errorf("%s: no response", tc.name)
			continue
		}
		ke, _ := r.Get(wire.PayloadKE).(*wire.KE)
		n := r.Notify(wire.NotifyInvalidSyntax)
		switch {
		case tc.ok && (ke == nil || ke.Group != DHMLKEM768 || len(ke.Data) != 1088):
			t.Errorf("%s: response %v, want an ML-KEM-768 ciphertext", tc.name, r.Payloads)
		case !tc.ok && n == nil:
			t.Errorf("%s: response %v, want INVALID_SYNTAX", tc.name, r.Payloads)
		}
	}
}

// FuzzIntermediateRequest feeds a half-open hybrid responder IKE_INTERMEDIATE
// requests with arbitrary KE payloads (method and data), properly protected
// so that they reach the handler. Whatever comes in, the responder must not
// panic, and it answers either with an ML-KEM-768 ciphertext or with
// INVALID_SYNTAX.
func FuzzIntermediateRequest(f *testing.F) {
	k, err := StartKeyExchange(DHMLKEM768, nil)
	if err != nil {
		f.Fatal(err)
	}
	ek := k.Public()
	f.Add(uint16(DHMLKEM768), ek, false)
	f.Add(uint16(DHMLKEM768), ek[:100], false)
	f.Add(uint16(DHMLKEM1024), ek, true)
	f.Add(uint16(DHCurve25519), make([]byte, 32), false)
	f.Add(uint16(0), []byte(nil), true)
	f.Fuzz(func(t *testing.T, group uint16, data []byte, notify bool) {
		ps := []wire.Payload{&wire.KE{Group: DHGroup(group), Data: data}}
		if notify {
			ps = append(ps, &wire.Notify{NotifyType: wire.NotifyIntermediateExchangeSupported})
		}
		r := intermediateResponder(t)(ps...)
		if r == nil {
			return
		}
		ke, _ := r.Get(wire.PayloadKE).(*wire.KE)
		if (ke == nil || ke.Group != DHMLKEM768 || len(ke.Data) != 1088) && r.Notify(wire.NotifyInvalidSyntax) == nil {
			t.Errorf("response %v, want an ML-KEM-768 ciphertext or INVALID_SYNTAX", r.Payloads)
		}
	})
}

// intermediateInitiator sets up a hybrid pair (x25519 + ke1_mlkem768) whose
// initiator has sent its IKE_INTERMEDIATE request and lost the response,
// and returns the responder's real KE (the ML-KEM-768 ciphertext) and a
// function that gives the initiator one IKE_INTERMEDIATE response (message
// ID 1) with the given payloads, protected with the responder's keys. The
// function reports whether the response is well-formed (it decrypts and its
// payloads parse, as the initiator will see it) and whether the initiator
// then sent its IKE_AUTH request.
func intermediateInitiator(t testing.TB) (real *wire.KE, send func(ps ...wire.Payload) (wellFormed, auth bool)) {
	t.Helper()
	n, a, b := hybridPair(t, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", 0)
	var lost [][]byte
	n.filter = func(p *memPacket) int {
		h, err := wire.ParseHeader(p.data)
		if err == nil && h.Exchange == wire.IKEIntermediate && h.IsResponse() {
			lost = append(lost, p.data)
			return 0
		}
		return 1
	}
	_, sa, err := a.e.startInitiate(context.Background(), InitiateOptions{Auth: AuthKindPubkey, Remote: netip.AddrPortFrom(b.addr, 500), Local: a.addr, Mode: ModeTunnel})
	if err != nil {
		t.Fatal(err)
	}
	n.drain()
	if len(lost) != 1 {
		t.Fatalf("%d IKE_INTERMEDIATE responses, want 1", len(lost))
	}
	sa.lock()
	cin, local, remote := sa.cin, sa.local, sa.remote
	spii, spir := sa.spii, sa.spir
	sa.unlock()
	m, err := wire.ParseMessage(lost[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Decrypt(cin); err != nil {
		t.Fatalf("the responder's IKE_INTERMEDIATE response does not decrypt: %v", err)
	}
	real, _ = m.Get(wire.PayloadKE).(*wire.KE)
	if real == nil {
		t.Fatalf("the responder's IKE_INTERMEDIATE response %v has no KE", m.Payloads)
	}
	if !local.IsValid() {
		local = netip.AddrPortFrom(a.addr, 500)
	}
	return real, func(ps ...wire.Payload) (bool, bool) {
		r := &wire.Message{Header: wire.Header{SPIi: spii, SPIr: spir, Exchange: wire.IKEIntermediate, Flags: wire.FlagResponse, MessageID: 1}, Payloads: ps}
		pkt, err := r.MarshalEncrypted(cin)
		if err != nil {
			return false, false // payloads that do not encode (a fuzzed KE of 64 KiB)
		}
		// The parser refuses some notifies' data (a COOKIE must hold 1..64
		// octets): the initiator then drops the response as malformed.
		check, err := wire.ParseMessage(pkt)
		wellFormed := err == nil && check.Decrypt(cin) == nil
		n.mu.Lock()
		n.log, n.queue = n.log[:0], n.queue[:0]
		n.mu.Unlock()
		a.e.HandlePacket(pkt, local, remote)
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, p := range n.log {
			h, err := wire.ParseHeader(p.data)
			if err == nil && p.from.Addr() == a.addr && h.Exchange == wire.IKEAuth && !h.IsResponse() && h.MessageID == 2 {
				return wellFormed, true
			}
		}
		return wellFormed, false
	}
}

// TestIntermediateResponseKE: the initiator goes on to IKE_AUTH after the
// responder's ML-KEM-768 ciphertext, and gives up on a ciphertext of the
// wrong length, the wrong method, no KE or an error notify.
func TestIntermediateResponseKE(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   func(real *wire.KE) []wire.Payload
		auth bool
	}{
		{"real", func(k *wire.KE) []wire.Payload { return []wire.Payload{k} }, true},
		{"short", func(k *wire.KE) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: k.Group, Data: k.Data[:len(k.Data)-1]}}
		}, false},
		{"long", func(k *wire.KE) []wire.Payload {
			return []wire.Payload{&wire.KE{Group: k.Group, Data: append(bytes.Clone(k.Data), 0)}}
		}, false},
		{"method", func(k *wire.KE) []wire.Payload { return []wire.Payload{&wire.KE{Group: DHMLKEM1024, Data: k.Data}} }, false},
		{"no KE", func(*wire.KE) []wire.Payload { return []wire.Payload{&wire.Nonce{Data: make([]byte, 32)}} }, false},
		{"error", func(k *wire.KE) []wire.Payload {
			return []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}, k}
		}, false},
	} {
		real, send := intermediateInitiator(t)
		if real.Group != DHMLKEM768 || len(real.Data) != 1088 {
			t.Fatalf("the responder's KE is %v of %d octets, want ML-KEM-768's 1,088-octet ciphertext", real.Group, len(real.Data))
		}
		wellFormed, got := send(tc.ps(real)...)
		if !wellFormed {
			t.Fatalf("%s: the forged response is malformed", tc.name)
		}
		if got != tc.auth {
			t.Errorf("%s: IKE_AUTH sent: %v, want %v", tc.name, got, tc.auth)
		}
	}
}

// FuzzIntermediateResponse gives a hybrid initiator waiting for its
// IKE_INTERMEDIATE response arbitrary ones (KE method and data, and a
// notify), properly protected so that they reach the handler. Whatever
// comes in, nothing panics, and the initiator goes on to IKE_AUTH exactly
// when the response is well-formed and carries no error notify and an
// ML-KEM-768 ciphertext of 1,088 octets (ML-KEM decapsulation never fails
// on a ciphertext of the right length: a forged one gives other keys,
// which IKE_AUTH catches).
func FuzzIntermediateResponse(f *testing.F) {
	real, _ := intermediateInitiator(f)
	f.Add(uint16(real.Group), real.Data, uint16(0))
	f.Add(uint16(real.Group), real.Data[:100], uint16(0))
	f.Add(uint16(real.Group), append(bytes.Clone(real.Data), 0), uint16(0))
	f.Add(uint16(DHMLKEM1024), real.Data, uint16(0))
	f.Add(uint16(DHCurve25519), make([]byte, 32), uint16(0))
	f.Add(uint16(real.Group), real.Data, uint16(wire.NotifyInvalidSyntax))
	f.Add(uint16(real.Group), real.Data, uint16(wire.NotifyIntermediateExchangeSupported))
	f.Add(uint16(real.Group), real.Data, uint16(wire.NotifyCookie)) // empty: malformed
	f.Add(uint16(0), []byte(nil), uint16(0))
	f.Fuzz(func(t *testing.T, group uint16, data []byte, notify uint16) {
		ps := []wire.Payload{&wire.KE{Group: DHGroup(group), Data: data}}
		if notify != 0 {
			ps = append(ps, &wire.Notify{NotifyType: wire.NotifyType(notify)})
		}
		_, send := intermediateInitiator(t)
		wellFormed, got := send(ps...)
		want := wellFormed && DHGroup(group) == DHMLKEM768 && len(data) == 1088 && (notify == 0 || !wire.NotifyType(notify).IsError())
		if got != want {
			t.Errorf("KE %v of %d octets, notify %d (well-formed: %v): IKE_AUTH sent: %v, want %v", DHGroup(group), len(data), notify, wellFormed, got, want)
		}
	})
}

// FuzzHybridHandshake feeds one datagram to both engines of a hybrid
// handshake (x25519 + ke1_mlkem768, IKE_INTERMEDIATE in SKF fragments of
// 576 octets) at its most fragile point: IKE_SA_INIT is done, both sides
// hold the half-open IKE SA and its keys, and the initiator's
// IKE_INTERMEDIATE fragments are on the wire. Then the handshake goes on.
// Seeds are every datagram of such a handshake (another one, with other
// keys); with patch set, the input gets the half-open SA's SPIs, so that
// mutations reach the SK and SKF checks, the reassembly and the message-ID
// window rather than stopping at the SPI lookup. Whatever comes in,
// nothing panics, and the handshake still completes with ML-KEM-768:
// without the keys, no datagram may disturb it.
func FuzzHybridHandshake(f *testing.F) {
	const spec = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
	n, a, b := hybridPair(f, spec, 576)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		f.Fatal(err)
	}
	for _, p := range n.log {
		f.Add(p.data, false)
		f.Add(p.data, true)
	}
	f.Fuzz(func(t *testing.T, d []byte, patch bool) {
		n, a, b := hybridPair(t, spec, 576)
		trace := &Trace{}
		in, sa, err := a.e.startInitiate(context.Background(), InitiateOptions{Auth: AuthKindPubkey, Remote: netip.AddrPortFrom(b.addr, 500), Local: a.addr, Mode: ModeTunnel, Trace: trace})
		if err != nil {
			t.Fatal(err)
		}
		// The IKE_SA_INIT request, then its response: the initiator now
		// queues its IKE_INTERMEDIATE fragments.
		for range 2 {
			if !n.deliverOne() {
				t.Fatal("IKE_SA_INIT did not run")
			}
		}
		n.mu.Lock()
		frags := 0
		for _, p := range n.queue {
			if h, err := wire.ParseHeader(p.data); err == nil && h.Exchange == wire.IKEIntermediate {
				frags++
			}
		}
		toB, fromA := n.log[0].to, n.log[0].from
		n.mu.Unlock()
		if frags < 2 {
			t.Fatalf("%d IKE_INTERMEDIATE datagrams queued after IKE_SA_INIT, want the request's fragments", frags)
		}
		if patch && len(d) >= 16 {
			sa.lock()
			spii, spir := sa.spii, sa.spir
			sa.unlock()
			d = append([]byte(nil), d...)
			copy(d[0:8], spii[:])
			copy(d[8:16], spir[:])
		}
		b.e.HandlePacket(d, toB, fromA)
		a.e.HandlePacket(d, fromA, toB)
		n.run(func() bool { return len(in.done) > 0 }, 10*time.Minute)
		if _, err := sa.awaitInitiate(context.Background(), in); err != nil {
			t.Fatalf("the handshake failed after a datagram of %d octets: %v", len(d), err)
		}
		if !slices.Equal(trace.AddKE, []DHGroup{DHMLKEM768}) {
			t.Fatalf("additional key exchanges %v, want ML-KEM-768", trace.AddKE)
		}
	})
}
