package ike

import (
	"context"
	"net/netip"
	"testing"

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
