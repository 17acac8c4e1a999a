package ike

import (
	"bytes"
	"crypto"
	"errors"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// checkChildPair asserts that A and B installed matching halves of the
// CHILD SA info (keys crossed, SPIs crossed).
func checkChildPair(t *testing.T, a, b *testPeer, info ChildSAInfo) {
	t.Helper()
	ca, ok := a.inst.get(info.SPIIn)
	if !ok {
		t.Fatalf("A has no CHILD SA %08x installed", info.SPIIn)
	}
	cb, ok := b.inst.get(ca.SPIOut)
	if !ok {
		t.Fatalf("B has no CHILD SA %08x installed", ca.SPIOut)
	}
	if cb.SPIOut != ca.SPIIn {
		t.Errorf("B sends with %08x, A receives with %08x", cb.SPIOut, ca.SPIIn)
	}
	if !bytes.Equal(ca.EncrKeyOut, cb.EncrKeyIn) || !bytes.Equal(ca.EncrKeyIn, cb.EncrKeyOut) ||
		!bytes.Equal(ca.IntegKeyOut, cb.IntegKeyIn) || !bytes.Equal(ca.IntegKeyIn, cb.IntegKeyOut) {
		t.Errorf("CHILD SA keys do not match")
	}
	if bytes.Equal(ca.EncrKeyIn, ca.EncrKeyOut) || len(ca.EncrKeyIn) != ca.Encr.KeyLen() {
		t.Errorf("CHILD SA keys: in and out equal or wrong length %d for %v", len(ca.EncrKeyIn), ca.Encr)
	}
	if ca.Encr != cb.Encr || ca.ESN != cb.ESN || ca.Mode != cb.Mode {
		t.Errorf("suites differ: %v/%v/%v vs %v/%v/%v", ca.Encr, ca.ESN, ca.Mode, cb.Encr, cb.ESN, cb.Mode)
	}
}

func TestHandshakeAuthMethods(t *testing.T) {
	s := signers(t)
	cases := []struct {
		name   string
		sa, sb crypto.Signer
		auth   AuthKind
		method AuthMethod
	}{
		{"ed25519", nil, nil, AuthKindPubkey, AuthDigitalSignature},
		{"rsa-pss", s["rsa"], s["rsa"], AuthKindPubkey, AuthDigitalSignature},
		{"ecdsa-p256", s["p256"], s["p256"], AuthKindPubkey, AuthDigitalSignature},
		{"ecdsa-p384", s["p384"], s["p384"], AuthKindPubkey, AuthDigitalSignature},
		{"psk", nil, nil, AuthKindPSK, AuthSharedKey},
		{"null", nil, nil, AuthKindNull, AuthNull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, a, b := newPair(t, c.sa, c.sb, nil)
			var tr Trace
			info, err := n.initiate(a, b, InitiateOptions{Auth: c.auth, Trace: &tr})
			if err != nil {
				t.Fatal(err)
			}
			checkChildPair(t, a, b, info)
			if !tr.PeerAuthVerified || tr.PeerAuthMethod != c.method {
				t.Errorf("trace: verified %v method %v, want %v", tr.PeerAuthVerified, tr.PeerAuthMethod, c.method)
			}
			if len(tr.Exchanges) != 2 || tr.Exchanges[0].Exchange != wire.IKESAInit || tr.Exchanges[1].Exchange != wire.IKEAuth {
				t.Errorf("trace exchanges: %+v", tr.Exchanges)
			}
			if len(a.established()) != 1 || len(b.established()) != 1 {
				t.Fatalf("established: A %d, B %d", len(a.established()), len(b.established()))
			}
			bs := b.established()[0]
			if bs.PeerAuth != c.auth {
				t.Errorf("B saw %v auth, want %v", bs.PeerAuth, c.auth)
			}
			if c.auth == AuthKindNull && bs.PeerID.Type != IDNull {
				t.Errorf("NULL auth peer ID %v", bs.PeerID)
			}
			if a.events.up != 1 || b.events.up != 1 || a.events.childUp != 1 || b.events.childUp != 1 {
				t.Errorf("hooks: A up %d child %d, B up %d child %d", a.events.up, a.events.childUp, b.events.up, b.events.childUp)
			}
			st := b.e.Stats()
			if st.HalfOpen != 0 || st.IKESAs != 1 {
				t.Errorf("B stats %+v", st)
			}
		})
	}
}

func TestHandshakeRSAMethod1(t *testing.T) {
	// A peer that announces no SIGNATURE_HASH_ALGORITHMS gets RSA method 1.
	s := signers(t)
	n := newMemNet(t)
	a := n.addPeer(addrA, s["rsa"], func(c *EngineConfig) { c.NoSignatureHashes = true })
	b := n.addPeer(addrB, s["rsa"], nil)
	a.trust(b)
	b.trust(a)
	var tr Trace
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr}); err != nil {
		t.Fatal(err)
	}
	if tr.PeerAuthMethod != AuthRSASignature {
		t.Errorf("peer used %v, want RSA method 1", tr.PeerAuthMethod)
	}
}

func TestHandshakeAuthFailure(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	// B knows a different key for A.
	b.keys.keys[AddrIdentity(a.addr).String()] = []crypto.PublicKey{newEd25519(t).Public()}
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Fatalf("err = %v, want AUTHENTICATION_FAILED", err)
	}
	n.drain()
	if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 {
		t.Errorf("SAs left: A %v B %v", a.e.SAs(), b.e.SAs())
	}
	// And A refusing B's key.
	n, a, b = newPair(t, nil, nil, nil)
	a.keys.keys[AddrIdentity(b.addr).String()] = []crypto.PublicKey{newEd25519(t).Public()}
	_, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err = %v, want ErrAuthentication", err)
	}
	n.drain()
	if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 || b.inst.count() != 0 {
		t.Errorf("state left: A %v B %v, B installed %d", a.e.SAs(), b.e.SAs(), b.inst.count())
	}
}

func TestHandshakeFQDNIdentities(t *testing.T) {
	n := newMemNet(t)
	ka, kb := newEd25519(t), newEd25519(t)
	a := n.addPeer(addrA, ka, func(c *EngineConfig) { c.Credentials.ID = FQDNIdentity("a.example.net") })
	b := n.addPeer(addrB, kb, func(c *EngineConfig) { c.Credentials.ID = FQDNIdentity("b.example.net") })
	a.keys.keys[FQDNIdentity("b.example.net").String()] = []crypto.PublicKey{kb.Public()}
	b.keys.keys[FQDNIdentity("a.example.net").String()] = []crypto.PublicKey{ka.Public()}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, PeerID: FQDNIdentity("b.example.net")})
	if err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, a, b, info)
	if id := b.established()[0].PeerID; !SameIdentity(id, FQDNIdentity("a.example.net")) {
		t.Errorf("B sees %v", id)
	}
	// Expecting someone else fails, and says so.
	n, a, b = newPair(t, nil, nil, nil)
	_, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, PeerID: FQDNIdentity("c.example.net")})
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("err = %v, want ErrAuthentication", err)
	}
}

func TestResponderToleratesUnknownPayloads(t *testing.T) {
	// An IKE_SA_INIT request with an unknown vendor ID and an unknown
	// non-critical payload is answered normally.
	n := newMemNet(t)
	b := n.addPeer(addrB, newEd25519(t), nil)
	dh, err := GenerateDH(DHCurve25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &wire.Message{Header: wire.Header{SPIi: SPI{1, 2, 3, 4, 5, 6, 7, 8}, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: []wire.Payload{
		&wire.SA{Proposals: DefaultIKEPolicy().Proposals(nil, DHCurve25519)},
		&wire.KE{Group: DHCurve25519, Data: dh.Public()},
		&wire.Nonce{Data: bytes.Repeat([]byte{7}, 32)},
		&wire.VendorID{Data: []byte("some other implementation 1.0")},
		&wire.UnknownPayload{PayloadType: 200, Body: []byte{1, 2, 3}},
	}}
	pkt, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b.e.HandlePacket(pkt, netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500))
	if len(n.queue) != 1 {
		t.Fatalf("%d answers", len(n.queue))
	}
	resp, err := wire.ParseMessage(n.queue[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get(wire.PayloadSA) == nil || errorNotify(resp) != nil || hasVendorID(resp, wire.VendorIDOpportunisticIPsec) {
		t.Errorf("answer: %s", payloadTypes(resp.Payloads))
	}
	// A critical unknown payload is refused with UNSUPPORTED_CRITICAL_PAYLOAD
	// naming it, and no state is kept.
	m.Payloads[4] = &wire.UnknownPayload{PayloadType: 200, Critical: true, Body: []byte{1}}
	m.SPIi[0] = 9
	pkt, _ = m.Marshal()
	b.e.HandlePacket(pkt, netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500))
	if st := b.e.Stats(); st.HalfOpen != 1 || st.Drops[DropMalformed] != 1 {
		t.Errorf("critical payload: half open %d, malformed drops %d", st.HalfOpen, st.Drops[DropMalformed])
	}
	if len(n.queue) != 2 {
		t.Fatalf("%d answers", len(n.queue))
	}
	resp, err = wire.ParseMessage(n.queue[1].data)
	if err != nil {
		t.Fatal(err)
	}
	if nt := resp.Notify(wire.NotifyUnsupportedCriticalPayload); nt == nil || !bytes.Equal(nt.Data, []byte{200}) {
		t.Errorf("answer: %s", payloadTypes(resp.Payloads))
	}
}
