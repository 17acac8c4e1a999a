package ike

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

// twoCAs is the PKI of the certificate selection tests: two CAs, each
// with an intermediate, and a responder certificate from each: b1 from
// ca1 (the default), b2 from ca2, whose credential also names ca2's root.
type twoCAs struct {
	ca1, ca2 *testCA
	b1, b2   *CertCredential
}

func newTwoCAs(t *testing.T) twoCAs {
	s := signers(t)
	p := twoCAs{ca1: newTestCA(t, "one", true), ca2: newTestCA(t, "two", true)}
	p.b1 = p.ca1.issue("b1.example", s["p256"], "b1.example")
	p.b2 = p.ca2.issue("b2.example", s["ed25519"], "b2.example")
	p.b2.CAKeyHashes = [][]byte{CAKeyHash(p.ca2.root)}
	return p
}

// dn is the subject DN a credential's certificate claims by default.
func dnOf(t *testing.T, c *CertCredential) Identity {
	return CertDNIdentity(mustParse(t, c.Chain[0]))
}

// A responder with two certificates from two CAs answers with the one
// that holds the IDr the initiator asked for, else the one under a CA the
// initiator's CERTREQ names, else its default (Credentials.Cert, or the
// first of Credentials.Certs).
func TestCertSelectResponder(t *testing.T) {
	s := signers(t)
	p := newTwoCAs(t)
	other := newTestCA(t, "other", false)
	both := [][]byte{CAKeyHash(p.ca1.root), CAKeyHash(p.ca2.root)}
	cases := []struct {
		name   string
		peerID Identity // A's IDr
		req    [][]byte // A's CERTREQ (nil: any CA)
		match  bool     // B has a CertNameMatch
		noDef  bool     // B has no Credentials.Cert, only Certs: b2, b1
		want   func() *CertCredential
		wantID func() Identity
	}{
		{name: "IDr names the second by a subjectAltName", peerID: FQDNIdentity("b2.example"), req: both, match: true,
			want: func() *CertCredential { return p.b2 }, wantID: func() Identity { return FQDNIdentity("b2.example") }},
		{name: "IDr names the second by its DN", peerID: dnOf(t, p.b2), req: both,
			want: func() *CertCredential { return p.b2 }, wantID: func() Identity { return dnOf(t, p.b2) }},
		{name: "IDr names the default over a CERTREQ for the second", peerID: dnOf(t, p.b1), req: [][]byte{CAKeyHash(p.ca2.root)},
			want: func() *CertCredential { return p.b1 }, wantID: func() Identity { return dnOf(t, p.b1) }},
		{name: "CERTREQ names the second's root", req: [][]byte{CAKeyHash(other.root), CAKeyHash(p.ca2.root)},
			want: func() *CertCredential { return p.b2 }, wantID: func() Identity { return dnOf(t, p.b2) }},
		{name: "CERTREQ names the second's intermediate", req: [][]byte{CAKeyHash(p.ca2.issuer.Cert)},
			want: func() *CertCredential { return p.b2 }, wantID: func() Identity { return dnOf(t, p.b2) }},
		{name: "CERTREQ names the default's intermediate, not listed", req: [][]byte{CAKeyHash(p.ca1.issuer.Cert)}, noDef: true,
			want: func() *CertCredential { return p.b1 }, wantID: func() Identity { return dnOf(t, p.b1) }},
		{name: "CERTREQ names no CA of ours", req: [][]byte{CAKeyHash(other.root)},
			want: func() *CertCredential { return p.b1 }, wantID: func() Identity { return dnOf(t, p.b1) }},
		{name: "CERTREQ for any CA", want: func() *CertCredential { return p.b1 }, wantID: func() Identity { return dnOf(t, p.b1) }},
		{name: "no default: the first of Certs", noDef: true,
			want: func() *CertCredential { return p.b2 }, wantID: func() Identity { return dnOf(t, p.b2) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newMemNet(t)
			credA := p.ca1.issue("a.example", s["p256"], "a.example")
			a := n.addPeer(addrA, nil, func(cfg *EngineConfig) {
				cfg.Credentials.Cert = credA
				cfg.CertVerifier = newTestCertVerifier(p.ca1, p.ca2)
				cfg.CertAuthorities = c.req
			})
			b := n.addPeer(addrB, nil, func(cfg *EngineConfig) {
				cfg.Credentials.Cert, cfg.Credentials.Certs = p.b1, []*CertCredential{p.b2}
				if c.noDef {
					cfg.Credentials.Cert, cfg.Credentials.Certs = nil, []*CertCredential{p.b2, p.b1}
				}
				cfg.CertVerifier = newTestCertVerifier(p.ca1, p.ca2)
				if c.match {
					cfg.CertNameMatch = func(cert *x509.Certificate, id Identity) bool { return testCertNames(cert, id) == nil }
				}
			})
			var tr Trace
			if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: c.peerID, Trace: &tr}); err != nil {
				t.Fatal(err)
			}
			want := c.want()
			if tr.PeerCert == nil || !bytes.Equal(tr.PeerCert.Raw, want.Chain[0]) {
				t.Errorf("B answered with %+v, want %s", tr.PeerCert, mustParse(t, want.Chain[0]).Subject)
			}
			if !SameIdentity(tr.PeerID, c.wantID()) {
				t.Errorf("B's IDr %v, want %v", tr.PeerID, c.wantID())
			}
			if tr.CertsSent != 2 {
				t.Errorf("A sent %d CERT payloads, want its end entity and intermediate", tr.CertsSent)
			}
		})
	}
}

// An initiation authenticates with InitiateOptions.Cert (a conn's own
// certificate) instead of the default; without it, with the default.
func TestCertSelectInitiator(t *testing.T) {
	s := signers(t)
	p := newTwoCAs(t)
	a1 := p.ca1.issue("a1.example", s["p256"], "a1.example")
	a2 := p.ca2.issue("a2.example", s["rsa"], "a2.example")
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, func(cfg *EngineConfig) {
		cfg.Credentials.Cert = a1
		cfg.CertVerifier = newTestCertVerifier(p.ca1)
	})
	b := n.addPeer(addrB, nil, func(cfg *EngineConfig) {
		cfg.Credentials.Cert = p.b1
		cfg.CertVerifier = newTestCertVerifier(p.ca1, p.ca2)
	})
	for _, c := range []struct {
		name string
		cert *CertCredential
		want *CertCredential
	}{{"the initiation's own", a2, a2}, {"the default", nil, a1}} {
		t.Run(c.name, func(t *testing.T) {
			before := len(b.established())
			if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, Cert: c.cert}); err != nil {
				t.Fatal(err)
			}
			n.drain()
			bs := b.established()
			if len(bs) != before+1 {
				t.Fatalf("B has %d IKE SAs, want %d", len(bs), before+1)
			}
			var found bool
			for _, sa := range bs {
				found = found || (sa.PeerCert != nil && bytes.Equal(sa.PeerCert.Raw, c.want.Chain[0]) && SameIdentity(sa.PeerID, dnOf(t, c.want)))
			}
			if !found {
				t.Errorf("B saw no IKE SA authenticated by %s: %+v", mustParse(t, c.want.Chain[0]).Subject, bs)
			}
		})
	}

	bad := *a2
	bad.Signer = s["p256"]
	for _, c := range []struct {
		name string
		opts InitiateOptions
		want string
	}{
		{"Cert with pubkey authentication", InitiateOptions{Auth: AuthKindPubkey, Cert: a2}, "Auth is"},
		{"Cert with another key", InitiateOptions{Auth: AuthKindCert, Cert: &bad}, "InitiateOptions.Cert"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := n.initiate(a, b, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one naming %q", err, c.want)
			}
		})
	}
	t.Run("no default and no Cert", func(t *testing.T) {
		n := newMemNet(t)
		c := n.addPeer(addrA, nil, func(cfg *EngineConfig) { cfg.Credentials.Certs = []*CertCredential{a1} })
		d := n.addPeer(addrB, nil, nil)
		if _, err := n.initiate(c, d, InitiateOptions{Auth: AuthKindCert}); err == nil || !strings.Contains(err.Error(), "InitiateOptions.Cert") {
			t.Errorf("err = %v, want one naming InitiateOptions.Cert", err)
		}
	})
}

// A NULL OE client that asks for a certificate never gets one of
// Credentials.Certs (a conn's): without a default certificate the
// responder signs with its raw key; with one, the default, even when the
// client's CERTREQ names the CA of another.
func TestCertSelectNullPeer(t *testing.T) {
	p := newTwoCAs(t)
	for _, withDefault := range []bool{false, true} {
		name := "conn certificates only"
		if withDefault {
			name = "and a default"
		}
		t.Run(name, func(t *testing.T) {
			n := newMemNet(t)
			a := n.addPeer(addrA, nil, func(cfg *EngineConfig) {
				cfg.CertVerifier = newTestCertVerifier(p.ca1, p.ca2)
				cfg.CertAuthorities = [][]byte{CAKeyHash(p.ca2.root)}
			})
			b := n.addPeer(addrB, newEd25519(t), func(cfg *EngineConfig) {
				cfg.Credentials.Certs = []*CertCredential{p.b2}
				if withDefault {
					cfg.Credentials.Cert = p.b1
				}
			})
			a.trust(b)
			// A asks for a certificate (CERTREQ naming ca2) and names
			// no responder, as Libreswan's certificate OE client does.
			var tr Trace
			_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert, Trace: &tr})
			if withDefault {
				if err != nil {
					t.Fatal(err)
				}
				if tr.PeerCert == nil || !bytes.Equal(tr.PeerCert.Raw, p.b1.Chain[0]) {
					t.Errorf("B answered with %+v, want its default certificate", tr.PeerCert)
				}
				return
			}
			// B signs with its raw key, which A, wanting a
			// certificate, refuses.
			if tr.PeerCert != nil || err == nil || tr.PeerAuthMethod != AuthDigitalSignature {
				t.Errorf("B answered a NULL client with certificate %+v, method %v (err %v); want its raw key's signature, refused", tr.PeerCert, tr.PeerAuthMethod, err)
			}
		})
	}
}

// SetCertCredentials replaces Credentials.Certs for the next IKE_AUTH
// and keeps the default; a bad credential changes nothing.
func TestSetCertCredentials(t *testing.T) {
	s := signers(t)
	p := newTwoCAs(t)
	b3 := p.ca2.issue("b3.example", s["p384"], "b3.example")
	n := newMemNet(t)
	credA := p.ca1.issue("a.example", s["p256"], "a.example")
	a := n.addPeer(addrA, nil, func(cfg *EngineConfig) {
		cfg.Credentials.Cert = credA
		cfg.CertVerifier = newTestCertVerifier(p.ca1, p.ca2)
	})
	b := n.addPeer(addrB, nil, func(cfg *EngineConfig) {
		cfg.Credentials.Cert, cfg.Credentials.Certs = p.b1, []*CertCredential{p.b2}
		cfg.CertVerifier = newTestCertVerifier(p.ca1)
	})
	answer := func(peerID Identity) *PeerCertificate {
		t.Helper()
		var tr Trace
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: peerID, Trace: &tr}); err != nil {
			t.Fatal(err)
		}
		return tr.PeerCert
	}
	if got := answer(dnOf(t, p.b2)); got == nil || !bytes.Equal(got.Raw, p.b2.Chain[0]) {
		t.Fatalf("before: B answered with %+v, want b2", got)
	}
	bad := *b3
	bad.Signer = s["p256"]
	if err := b.e.SetCertCredentials([]*CertCredential{b3, &bad}); err == nil || !strings.Contains(err.Error(), "Certs[1]") {
		t.Errorf("SetCertCredentials with a wrong key: %v, want an error naming Certs[1]", err)
	}
	if got := answer(dnOf(t, p.b2)); got == nil || !bytes.Equal(got.Raw, p.b2.Chain[0]) {
		t.Errorf("after a refused replacement: B answered with %+v, want b2 still", got)
	}
	if err := b.e.SetCertCredentials([]*CertCredential{b3}); err != nil {
		t.Fatal(err)
	}
	if got := answer(dnOf(t, b3)); got == nil || !bytes.Equal(got.Raw, b3.Chain[0]) {
		t.Errorf("after: B answered with %+v, want b3", got)
	}
	// b2 is gone: a peer asking for it gets the default, which does
	// not hold the name it asked for, and refuses it.
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: dnOf(t, p.b2)}); !errors.Is(err, ErrAuthentication) {
		t.Errorf("asking for the removed b2: err = %v, want an authentication failure", err)
	}
	if got := answer(Identity{}); got == nil || !bytes.Equal(got.Raw, p.b1.Chain[0]) {
		t.Errorf("the default: B answered with %+v, want b1", got)
	}
}

// NewEngine checks every certificate of Credentials.Certs, and the CA
// hashes of each.
func TestCertCredentialsChecked(t *testing.T) {
	s := signers(t)
	p := newTwoCAs(t)
	wrongKey := *p.b2
	wrongKey.Signer = s["p256"]
	shortHash := *p.b2
	shortHash.CAKeyHashes = [][]byte{{1, 2, 3}}
	for _, c := range []struct {
		name  string
		certs []*CertCredential
		want  string
	}{
		{"wrong key", []*CertCredential{p.b1, &wrongKey}, "Certs[1]"},
		{"short CA hash", []*CertCredential{&shortHash}, "CAKeyHashes[0] has 3 octets"},
		{"nil", []*CertCredential{nil}, "Certs[0]: certificate credential is nil"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newMemNet(t)
			_, err := NewEngine(EngineConfig{Credentials: Credentials{Certs: c.certs}, Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(1)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewEngine: %v, want an error naming %q", err, c.want)
			}
		})
	}
}
