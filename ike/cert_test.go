package ike

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// certPair builds A and B on a memNet that authenticate with
// certificates from ca and trust ca.
func certPair(t *testing.T, ca *testCA, credA, credB *CertCredential, mod func(*EngineConfig)) (*memNet, *testPeer, *testPeer) {
	t.Helper()
	n := newMemNet(t)
	peer := func(addr interface{ String() string }, cred *CertCredential) func(*EngineConfig) {
		return func(c *EngineConfig) {
			c.Credentials.Cert = cred
			c.CertVerifier = newTestCertVerifier(ca)
			c.CertAuthorities = [][]byte{CAKeyHash(ca.root)}
			if mod != nil {
				mod(c)
			}
		}
	}
	a := n.addPeer(addrA, nil, peer(addrA, credA))
	b := n.addPeer(addrB, nil, peer(addrB, credB))
	return n, a, b
}

func TestCertHandshake(t *testing.T) {
	s := signers(t)
	cases := []struct {
		name         string
		key          string
		intermediate bool
	}{
		{"rsa", "rsa", false},
		{"ecdsa-p256", "p256", false},
		{"ed25519", "ed25519", false},
		{"rsa-intermediate", "rsa", true},
		{"ecdsa-p384-intermediate", "p384", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ca := newTestCA(t, "test", c.intermediate)
			credA := ca.issue("a.example", s[c.key], "a.example", addrA.String())
			credB := ca.issue("b.example", s[c.key], "b.example", addrB.String())
			n, a, b := certPair(t, ca, credA, credB, nil)
			var tr Trace
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr})
			if err != nil {
				t.Fatal(err)
			}
			checkChildPair(t, a, b, info)
			if !tr.PeerAuthVerified || tr.PeerCert == nil || tr.PeerCert.Subject != "CN=b.example,O=oemesh test,C=XX" {
				t.Errorf("trace: verified %v, peer certificate %+v", tr.PeerAuthVerified, tr.PeerCert)
			}
			if !tr.PeerCertReq || tr.CertsSent != len(credA.Chain) {
				t.Errorf("trace: peer CERTREQ %v, certificates sent %d, want %d", tr.PeerCertReq, tr.CertsSent, len(credA.Chain))
			}
			if want := CertDNIdentity(mustParse(t, credB.Chain[0])); !SameIdentity(tr.PeerID, want) {
				t.Errorf("peer ID %v, want the subject DN %v", tr.PeerID, want)
			}
			as, bs := a.established(), b.established()
			if len(as) != 1 || len(bs) != 1 {
				t.Fatalf("established: A %d, B %d", len(as), len(bs))
			}
			if as[0].PeerAuth != AuthKindCert || bs[0].PeerAuth != AuthKindCert {
				t.Errorf("peer auth: A saw %v, B saw %v", as[0].PeerAuth, bs[0].PeerAuth)
			}
			if pc := bs[0].PeerCert; pc == nil || !bytes.Equal(pc.Raw, credA.Chain[0]) || len(pc.DNSNames) != 1 || pc.DNSNames[0] != "a.example" ||
				len(pc.IPAddresses) != 1 || pc.IPAddresses[0] != addrA || pc.Issuer == "" || pc.NotAfter.IsZero() {
				t.Errorf("B's record of A's certificate: %+v", pc)
			}
		})
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertPayloadsOnTheWire checks where CERT and CERTREQ go: CERTREQ
// with our CA's key hash in the responder's IKE_SA_INIT and the
// initiator's IKE_AUTH, the chain after the ID payload.
func TestCertPayloadsOnTheWire(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", true)
	n, a, b := certPair(t, ca, ca.issue("a", s["p256"], "192.0.2.1"), ca.issue("b", s["p256"], "192.0.2.2"), nil)
	var certreqInit, certreqAuth bool
	var certsAuth int
	n.filter = func(p *memPacket) int {
		m, err := wire.ParseMessage(p.data)
		if err != nil {
			return 1
		}
		switch {
		case m.Exchange == wire.IKESAInit && m.Flags&wire.FlagResponse != 0:
			for _, pl := range m.Payloads {
				if c, ok := pl.(*wire.Cert); ok && c.Request {
					hs, err := c.CAKeyHashes()
					certreqInit = err == nil && len(hs) == 1 && bytes.Equal(hs[0], CAKeyHash(ca.root))
				}
			}
		}
		return 1
	}
	var tr Trace
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr}); err != nil {
		t.Fatal(err)
	}
	if !certreqInit {
		t.Error("B's IKE_SA_INIT response has no CERTREQ naming the root's key hash")
	}
	// IKE_AUTH is encrypted: B's SA records A's CERTREQ, A's trace the
	// CERT payloads it sent.
	b.e.mu.Lock()
	for _, sa := range b.e.sas {
		certreqAuth = certreqAuth || sa.peerCertReq
	}
	b.e.mu.Unlock()
	certsAuth = tr.CertsSent
	if bs := b.established(); len(bs) != 1 || bs[0].PeerCert == nil || bs[0].PeerCert.Issuer != "CN=test Intermediate CA,O=oemesh test,C=XX" {
		t.Errorf("B's SAs %+v, want A's certificate from the intermediate", bs)
	}
	if !certreqAuth || certsAuth != 2 {
		t.Errorf("A's IKE_AUTH: CERTREQ %v, %d CERT payloads, want 2 (end entity and intermediate)", certreqAuth, certsAuth)
	}
}

func TestCertSendPolicy(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	t.Run("ifasked without CERTREQ", func(t *testing.T) {
		// B verifies no certificates, so it sends no CERTREQ and A, whose
		// policy is ifasked, sends no CERT: B sees a plain signature, and
		// does not know A's key.
		n, a, b := certPair(t, ca, ca.issue("a", s["p256"], "192.0.2.1"), ca.issue("b", s["p256"], "192.0.2.2"), nil)
		b.e.cfg.CertVerifier = nil
		var tr Trace
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr})
		if tr.PeerCertReq || tr.CertsSent != 0 {
			t.Errorf("peer CERTREQ %v, certificates sent %d, want none", tr.PeerCertReq, tr.CertsSent)
		}
		var ne *NotifyError
		if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
			t.Fatalf("err = %v, want AUTHENTICATION_FAILED", err)
		}
	})
	t.Run("always without CERTREQ", func(t *testing.T) {
		credA := ca.issue("a", s["p256"], "192.0.2.1")
		credA.Send = SendCertAlways
		n, a, b := certPair(t, ca, credA, ca.issue("b", s["p256"], "192.0.2.2"), func(c *EngineConfig) { c.CertAuthorities = nil })
		// B still verifies certificates but names no CA; so does A.
		var tr Trace
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr}); err != nil {
			t.Fatal(err)
		}
		if tr.CertsSent != 1 {
			t.Errorf("certificates sent %d, want 1", tr.CertsSent)
		}
	})
	t.Run("never", func(t *testing.T) {
		credA := ca.issue("a", s["p256"], "192.0.2.1")
		credA.Send = SendCertNever
		n, a, b := certPair(t, ca, credA, ca.issue("b", s["p256"], "192.0.2.2"), nil)
		var tr Trace
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr})
		if tr.CertsSent != 0 {
			t.Errorf("certificates sent %d, want 0", tr.CertsSent)
		}
		// B sees a bare signature and has no key for A.
		var ne *NotifyError
		if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
			t.Fatalf("err = %v, want AUTHENTICATION_FAILED", err)
		}
	})
}

func TestCertAuthFailures(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	other := newTestCA(t, "other", false)
	cases := []struct {
		name     string
		credA    *CertCredential
		idA      Identity
		responds bool // B refuses A (else A refuses B)
		credB    *CertCredential
		peerID   Identity
	}{
		{name: "unknown CA", credA: other.issue("a", s["p256"], "192.0.2.1"), responds: true},
		{name: "ID not in certificate", credA: ca.issue("a", s["p256"], "a.example"), idA: FQDNIdentity("c.example"), responds: true},
		{name: "DN not the subject", credA: ca.issue("a", s["p256"]), idA: CertDNIdentity(mustParse(t, other.root.Raw)), responds: true},
		// A signs with a key that is not its certificate's (NewEngine
		// refuses that, so the test swaps the key afterwards).
		{name: "certificate of another key", credA: ca.issue("a", s["p256"], "a.example"), idA: FQDNIdentity("a.example"), responds: true},
		{name: "responder from unknown CA", credB: other.issue("b", s["p256"], "192.0.2.2")},
		{name: "responder is not the peer asked for", credB: ca.issue("b", s["p256"], "b.example"), peerID: FQDNIdentity("www.example")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			credA, credB := c.credA, c.credB
			if credA == nil {
				credA = ca.issue("a", s["p256"], "192.0.2.1")
			}
			credA.ID = c.idA
			if credB == nil {
				credB = ca.issue("b", s["p256"], "192.0.2.2")
			}
			n, a, b := certPair(t, ca, credA, credB, nil)
			if c.name == "certificate of another key" {
				a.e.cfg.Credentials.Cert.Signer = s["ed25519"]
			}
			_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: c.peerID})
			if !errors.Is(err, ErrAuthentication) {
				var ne *NotifyError
				if !c.responds || !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
					t.Fatalf("err = %v, want an authentication failure", err)
				}
			}
			var ne *NotifyError
			if got := errors.As(err, &ne) && ne.Type == wire.NotifyAuthenticationFailed; got != c.responds {
				t.Errorf("err = %v: B refused with AUTHENTICATION_FAILED %v, want %v", err, got, c.responds)
			}
			n.drain()
			if len(a.established()) != 0 || len(b.established()) != 0 {
				t.Errorf("established: A %d, B %d", len(a.established()), len(b.established()))
			}
		})
	}
}

func TestCertCredentialChecked(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	good := ca.issue("a", s["p256"])
	for name, c := range map[string]*CertCredential{
		"no chain":       {Signer: s["p256"]},
		"no key":         {Chain: good.Chain},
		"wrong key":      {Chain: good.Chain, Signer: s["rsa"]},
		"bad DER":        {Chain: [][]byte{{0x30, 0x00}}, Signer: s["p256"]},
		"bad intermedia": {Chain: [][]byte{good.Chain[0], {1}}, Signer: s["p256"]},
	} {
		n := newMemNet(t)
		_, err := NewEngine(EngineConfig{Credentials: Credentials{Cert: c}, Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(1)})
		if err == nil {
			t.Errorf("%s: NewEngine accepted the credential", name)
		}
	}
	n := newMemNet(t)
	if _, err := NewEngine(EngineConfig{CertAuthorities: [][]byte{{1, 2}}, Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(1)}); err == nil {
		t.Error("NewEngine accepted a 2-octet CA key hash")
	}
	// Initiate refuses certificate authentication without a certificate,
	// and a certificate-authenticated peer without a verifier.
	n, a, b := newPair(t, nil, nil, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert}); err == nil {
		t.Error("Initiate with AuthKindCert and no certificate succeeded")
	}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, PeerAuth: AuthKindCert}); err == nil {
		t.Error("Initiate wanting a certificate from the peer without a CertVerifier succeeded")
	}
}

// TestCertFragmentation sends RSA certificate chains in IKE_AUTH with a
// small fragment threshold: both IKE_AUTH messages go as SKF fragments.
func TestCertFragmentation(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", true)
	n, a, b := certPair(t, ca, ca.issue("a", s["rsa"], "192.0.2.1"), ca.issue("b", s["rsa"], "192.0.2.2"),
		func(c *EngineConfig) { c.FragmentThreshold = 300 })
	var tr Trace
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Trace: &tr})
	if err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, a, b, info)
	if tr.FragmentsSent < 3 || tr.FragmentsReceived < 3 {
		t.Errorf("fragments: sent %d, received %d; want the certificate chains fragmented", tr.FragmentsSent, tr.FragmentsReceived)
	}
	if tr.PeerCert == nil {
		t.Error("no peer certificate recorded")
	}
}

// TestNoCertVerifierKeepsRawKeys: without a CertVerifier, CERT payloads
// beside a signature are ignored and the key comes from the
// KeyResolver, as before certificates were supported.
func TestNoCertVerifierKeepsRawKeys(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	credA := ca.issue("a", s["p256"], "192.0.2.1")
	credA.Send = SendCertAlways
	n := newMemNet(t)
	a := n.addPeer(addrA, s["p256"], func(c *EngineConfig) { c.Credentials.Cert = credA })
	b := n.addPeer(addrB, s["ed25519"], nil)
	b.keys.keys[AddrIdentity(addrA).String()] = []crypto.PublicKey{s["p256"].Public()}
	a.trust(b)
	credA.ID = AddrIdentity(addrA)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerAuth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	if bs := b.established(); len(bs) != 1 || bs[0].PeerAuth != AuthKindPubkey || bs[0].PeerCert != nil {
		t.Fatalf("B: %+v, want one SA with a pubkey peer", bs)
	}
}
