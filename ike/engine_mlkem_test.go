package ike

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// onlyKE sets both engines' IKE key exchange methods to ms.
func onlyKE(ms ...DHGroup) func(*EngineConfig) {
	return func(c *EngineConfig) {
		c.IKE = DefaultIKEPolicy()
		c.IKE.DH = ms
	}
}

// initKEs returns the KE payloads of the IKE_SA_INIT request and response
// that n carried last.
func initKEs(t *testing.T, n *memNet) (req, resp *wire.KE) {
	t.Helper()
	for _, p := range n.log {
		h, err := wire.ParseHeader(p.data)
		if err != nil || h.Exchange != wire.IKESAInit {
			continue
		}
		m, err := wire.ParseMessage(p.data)
		if err != nil {
			t.Fatal(err)
		}
		ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
		if h.IsResponse() {
			resp = ke
		} else {
			req = ke
		}
	}
	return req, resp
}

// TestHandshakeMLKEM: two engines set up an IKE SA with ML-KEM alone as
// the KE of IKE_SA_INIT, authenticate over keys derived from the KEM
// secret, and then rekey the IKE SA and the CHILD SA (with ML-KEM as PFS)
// over it.
func TestHandshakeMLKEM(t *testing.T) {
	for _, g := range []DHGroup{DHMLKEM768, DHMLKEM1024} {
		t.Run(g.String(), func(t *testing.T) {
			n, a, b := newPair(t, nil, nil, onlyKE(g))
			var tr Trace
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
			if err != nil {
				t.Fatal(err)
			}
			checkUp(t, a, b, info)
			if tr.IKESuite.DH != g || len(tr.InvalidKE) != 0 || len(tr.Exchanges) != 2 {
				t.Errorf("trace: suite %v, INVALID_KE %v, %d exchanges", tr.IKESuite, tr.InvalidKE, len(tr.Exchanges))
			}
			req, resp := initKEs(t, n)
			if req == nil || resp == nil || req.Group != g || resp.Group != g ||
				len(req.Data) != g.PublicLen() || len(resp.Data) != g.ResponseLen() {
				t.Fatalf("IKE_SA_INIT KE payloads: request %v, response %v", req, resp)
			}
			if sa, sb := a.e.SAs()[0], b.e.SAs()[0]; sa.Suite.DH != g || sb.Suite.DH != g {
				t.Errorf("SA suites: A %v, B %v", sa.Suite, sb.Suite)
			}
			n.drain()

			// IKE SA rekey (CREATE_CHILD_SA, RFC 7296 §1.3.2) with the
			// same KEM, from the responder this time.
			done := startIKERekey(t, b)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatalf("IKE rekey: %v", err)
			}
			n.advance(time.Second)
			checkConsistent(t, a, b, 1)
			// CHILD SA rekey with ML-KEM as PFS.
			child := a.onlyChild(t)
			a.e.cfg.ESP.DH = []DHGroup{g}
			b.e.cfg.ESP.DH = []DHGroup{g}
			d2 := startChildRekey(t, a, child, g)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatalf("CHILD rekey: %v", err)
			}
			n.advance(time.Second)
			checkConsistent(t, a, b, 1)
			if pfs := a.e.SAs()[0].Children[0].PFS; pfs != g {
				t.Errorf("CHILD SA PFS %v, want %v", pfs, g)
			}
			deleteAndCheck(t, n, a, b)
		})
	}
}

// TestInvalidKEWithMLKEM: INVALID_KE_PAYLOAD moves the initiator to a KEM
// the responder asks for, and away from one it does not take.
func TestInvalidKEWithMLKEM(t *testing.T) {
	for _, c := range []struct {
		name     string
		ini, res []DHGroup
		want     DHGroup
	}{
		{"to ML-KEM-768", []DHGroup{DHCurve25519, DHMLKEM768}, []DHGroup{DHMLKEM768}, DHMLKEM768},
		{"to ML-KEM-1024", []DHGroup{DHMLKEM768, DHMLKEM1024}, []DHGroup{DHMLKEM1024, DHCurve25519}, DHMLKEM1024},
		{"from ML-KEM-768", []DHGroup{DHMLKEM768, DHCurve25519}, []DHGroup{DHCurve25519}, DHCurve25519},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, a, b := newPair(t, nil, nil, nil)
			a.e.cfg.IKE.DH, b.e.cfg.IKE.DH = c.ini, c.res
			var tr Trace
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
			if err != nil {
				t.Fatal(err)
			}
			checkUp(t, a, b, info)
			if len(tr.InvalidKE) != 1 || tr.InvalidKE[0] != c.want || tr.IKESuite.DH != c.want || len(tr.Exchanges) != 3 {
				t.Errorf("trace: INVALID_KE %v, suite %v, %d exchanges", tr.InvalidKE, tr.IKESuite, len(tr.Exchanges))
			}
			if req, resp := initKEs(t, n); len(req.Data) != c.want.PublicLen() || len(resp.Data) != c.want.ResponseLen() {
				t.Errorf("KE data: request %d, response %d octets", len(req.Data), len(resp.Data))
			}
		})
	}
}

// initRequest builds an IKE_SA_INIT request from a fresh initiator SPI,
// offering pol, with KE data ke for method g.
func initRequest(t *testing.T, spi byte, pol Policy, g DHGroup, ke []byte) []byte {
	t.Helper()
	m := &wire.Message{Header: wire.Header{SPIi: SPI{1, 2, 3, 4, 5, 6, 7, spi}, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator},
		Payloads: []wire.Payload{&wire.SA{Proposals: pol.Proposals(nil, g)}, &wire.KE{Group: g, Data: ke}, &wire.Nonce{Data: bytes.Repeat([]byte{spi}, 32)}}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResponderRefusesBadMLKEMKey: an IKE_SA_INIT request whose ML-KEM
// encapsulation key is truncated, too long or not a valid encoding gets
// INVALID_SYNTAX, is counted as an invalid datagram, leaves no half-open
// SA behind, and disturbs nothing: a good handshake follows.
func TestResponderRefusesBadMLKEMKey(t *testing.T) {
	for _, g := range []DHGroup{DHMLKEM768, DHMLKEM1024} {
		t.Run(g.String(), func(t *testing.T) {
			n, a, b := newPair(t, nil, nil, onlyKE(g))
			k, _ := StartKeyExchange(g, nil)
			good := k.Public()
			badEnc := append([]byte(nil), good...)
			badEnc[0], badEnc[1] = 0xff, 0xff
			from, to := netip.AddrPortFrom(a.addr, 500), netip.AddrPortFrom(b.addr, 500)
			for i, ke := range [][]byte{good[:len(good)-1], good[:32], append(good, 0), badEnc} {
				n.log = n.log[:0]
				before := b.e.Stats().Drops[DropInvalid]
				b.e.HandlePacket(initRequest(t, byte(i), b.e.cfg.IKE, g, ke), to, from)
				if got := b.e.Stats().Drops[DropInvalid] - before; got != 1 {
					t.Errorf("KE of %d octets: %d invalid drops, want 1", len(ke), got)
				}
				if len(n.log) != 1 {
					t.Fatalf("KE of %d octets: %d answers, want 1", len(ke), len(n.log))
				}
				m, err := wire.ParseMessage(n.log[0].data)
				if err != nil {
					t.Fatal(err)
				}
				if m.Notify(wire.NotifyInvalidSyntax) == nil || len(m.Payloads) != 1 || !m.SPIr.IsZero() || !m.IsResponse() {
					t.Errorf("KE of %d octets: answer %v, want INVALID_SYNTAX alone", len(ke), m.Payloads)
				}
				n.queue = n.queue[:0]
			}
			if len(b.e.SAs()) != 0 {
				t.Errorf("SAs left: %v", b.e.SAs())
			}
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
			if err != nil {
				t.Fatal(err)
			}
			checkUp(t, a, b, info)
		})
	}
}

// TestInitiatorRefusesBadMLKEMCiphertext: a responder's IKE_SA_INIT
// answer with a ciphertext of the wrong length ends the initiation with
// an error that says so; a corrupted ciphertext of the right length
// decapsulates to another secret and fails at IKE_AUTH.
func TestInitiatorRefusesBadMLKEMCiphertext(t *testing.T) {
	mangle := func(n *memNet, f func([]byte) []byte) {
		n.filter = func(p *memPacket) int {
			h, err := wire.ParseHeader(p.data)
			if err != nil || h.Exchange != wire.IKESAInit || !h.IsResponse() {
				return 1
			}
			m, err := wire.ParseMessage(p.data)
			if err != nil {
				return 1
			}
			if ke, ok := m.Get(wire.PayloadKE).(*wire.KE); ok {
				ke.Data = f(ke.Data)
			}
			if p.data, err = m.Marshal(); err != nil {
				panic(err)
			}
			return 1
		}
	}
	g := DHMLKEM768
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { onlyKE(g)(c); c.GiveUp = 5 * time.Second })
	mangle(n, func(ct []byte) []byte { return ct[:len(ct)-1] })
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if !errors.Is(err, ErrInvalidKE) || !strings.Contains(fmt.Sprint(err), "ML_KEM_768 ciphertext: invalid key exchange value: 1087 octets, want 1088") {
		t.Errorf("truncated ciphertext: err = %v", err)
	}
	n, a, b = newPair(t, nil, nil, func(c *EngineConfig) { onlyKE(g)(c); c.GiveUp = 5 * time.Second })
	mangle(n, func(ct []byte) []byte { ct[7] ^= 0x20; return ct })
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err == nil {
		t.Error("corrupted ciphertext: handshake succeeded")
	}
	if len(a.established()) != 0 {
		t.Errorf("A established %v", a.e.SAs())
	}
}

// FuzzInitRequestMLKEM feeds IKE_SA_INIT requests to a responder that takes
// only ML-KEM-768, seeded with a good request and ones whose KE is
// truncated, lengthened or malformed. Whatever comes in, the engine must
// not panic, and a good handshake must still work afterwards.
func FuzzInitRequestMLKEM(f *testing.F) {
	g := DHMLKEM768
	n, a, b := newPair(f, nil, nil, onlyKE(g))
	k, err := StartKeyExchange(g, nil)
	if err != nil {
		f.Fatal(err)
	}
	ek := k.Public()
	pol := b.e.cfg.IKE
	build := func(spi byte, ke []byte) []byte {
		m := &wire.Message{Header: wire.Header{SPIi: SPI{9, 9, 9, 9, 9, 9, 9, spi}, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator},
			Payloads: []wire.Payload{&wire.SA{Proposals: pol.Proposals(nil, g)}, &wire.KE{Group: g, Data: ke}, &wire.Nonce{Data: bytes.Repeat([]byte{spi}, 32)}}}
		d, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		return d
	}
	bad := append([]byte(nil), ek...)
	bad[0], bad[1] = 0xff, 0xff
	f.Add(build(1, ek))
	f.Add(build(2, ek[:len(ek)-1]))
	f.Add(build(3, append(append([]byte(nil), ek...), 0)))
	f.Add(build(4, bad))
	f.Add(build(5, nil))
	from, to := netip.AddrPortFrom(a.addr, 500), netip.AddrPortFrom(b.addr, 500)
	f.Fuzz(func(t *testing.T, d []byte) {
		b.e.HandlePacket(d, to, from)
		n.queue = n.queue[:0] // answers go nowhere
		n.log = n.log[:0]
	})
}
