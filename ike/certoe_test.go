package ike

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/oemesh/oemesh/ike/addrpool"
)

// leaseRecorder is a PeerPolicy that remembers the leases of the CHILD
// requests it saw.
type leaseRecorder struct {
	*fakePolicy
	mu     sync.Mutex
	leased [][]netip.Addr
}

func (p *leaseRecorder) Child(ctx context.Context, req ChildRequest) (ChildDecision, error) {
	p.mu.Lock()
	p.leased = append(p.leased, slices.Clone(req.Leased))
	p.mu.Unlock()
	return p.fakePolicy.Child(ctx, req)
}

// certOEPair builds a certificate OE client A (no key, trusts ca) and a
// server B that authenticates with credB, leases from
// 100.64.0.1-100.64.0.9 and, with rawKey, also has credB's key as its raw
// key (Credentials.Signer).
func certOEPair(t *testing.T, ca *testCA, credB *CertCredential, rawKey bool) (*memNet, *testPeer, *testPeer, *addrpool.Pool, *leaseRecorder) {
	t.Helper()
	n := newMemNet(t)
	pool, err := addrpool.Parse([]string{"100.64.0.1-100.64.0.9"}, n.clock)
	if err != nil {
		t.Fatal(err)
	}
	a := n.addPeer(addrA, nil, func(c *EngineConfig) {
		c.CertVerifier = newTestCertVerifier(ca)
		c.CertAuthorities = [][]byte{CAKeyHash(ca.root)}
	})
	signer := credB.Signer
	if !rawKey {
		signer = nil
	}
	rec := &leaseRecorder{}
	b := n.addPeer(addrB, signer, func(c *EngineConfig) {
		c.Credentials.Cert = credB
		c.AddressPool = pool
		rec.fakePolicy = c.Policy.(*fakePolicy)
		c.Policy = rec
	})
	return n, a, b, pool, rec
}

// Certificate OE (Libreswan's oe-letsencrypt): a NULL initiator that
// names no responder and asks for a certificate (CERTREQ) gets the
// responder's certificate, its subject DN as IDr (leftid=%fromcert), and
// an address from its pool; the responder's policy sees the lease.
func TestCertOEResponderAnswersNullWithCertificate(t *testing.T) {
	s := signers(t)
	for _, rawKey := range []bool{false, true} {
		name := "cert-only"
		if rawKey {
			name = "cert-and-raw-key"
		}
		t.Run(name, func(t *testing.T) {
			ca := newTestCA(t, "test", true)
			credB := ca.issue("b.example", s["p256"], "b.example")
			n, a, b, pool, rec := certOEPair(t, ca, credB, rawKey)
			var tr Trace
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert,
				RequestAddress: AddressRequest{IPv4: true}, Trace: &tr})
			if err != nil {
				t.Fatal(err)
			}
			if want := CertDNIdentity(mustParse(t, credB.Chain[0])); !SameIdentity(tr.PeerID, want) {
				t.Errorf("B's IDr %v, want its certificate's subject DN %v", tr.PeerID, want)
			}
			if !tr.PeerAuthVerified || tr.PeerCert == nil || tr.PeerCert.Subject != "CN=b.example,O=oemesh test,C=XX" {
				t.Errorf("trace: verified %v, peer certificate %+v", tr.PeerAuthVerified, tr.PeerCert)
			}
			want := addrs("100.64.0.1")
			if !slices.Equal(info.VirtualIPs, want) {
				t.Errorf("A's VirtualIPs %v, want %v", info.VirtualIPs, want)
			}
			n.drain()
			if bs := b.established(); len(bs) != 1 || bs[0].PeerAuth != AuthKindNull || !slices.Equal(bs[0].VirtualIPs, want) {
				t.Errorf("B's view %+v: want a NULL peer leased %v", bs, want)
			}
			rec.mu.Lock()
			got := slices.Clone(rec.leased)
			rec.mu.Unlock()
			if len(got) != 1 || !slices.Equal(got[0], want) {
				t.Errorf("policy saw leases %v, want [%v]", got, want)
			}
			deleteAndCheck(t, n, a, b)
			if ls := pool.Leases(); len(ls) != 0 {
				t.Errorf("after delete, leases %+v", ls)
			}
		})
	}
}

// A NULL initiator that names no responder and sends no CERTREQ (the
// DNSSEC OE client, which verifies our key from DNS) still gets our raw
// key's signature when we have both.
func TestCertOEResponderKeepsRawKeyWithoutCertReq(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	credB := ca.issue("b.example", s["p256"], "b.example")
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, nil)
	b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.Credentials.Cert = credB })
	a.trust(b)
	var tr Trace
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindPubkey, PeerID: AddrIdentity(b.addr), Trace: &tr}); err != nil {
		t.Fatal(err)
	}
	if tr.PeerCert != nil || !SameIdentity(tr.PeerID, AddrIdentity(b.addr)) || tr.PeerAuthMethod != AuthDigitalSignature {
		t.Errorf("trace: peer ID %v, certificate %+v, method %v; want B's raw key signature under its address", tr.PeerID, tr.PeerCert, tr.PeerAuthMethod)
	}
}

// A certificate OE client that sends no CERTREQ (Libreswan's): a server
// that also has a raw key answers it with the raw key by default, which
// the client refuses; with CertOEAlways, with its certificate. A DNS OE
// client of such a server then gets the certificate too, and fails
// unless it accepts certificates: the documented price of
// oe.cert_answer: always.
func TestCertOEResponderAlways(t *testing.T) {
	s := signers(t)
	for _, tc := range []struct {
		name     string
		always   bool
		peerAuth AuthKind
		wantCert bool // the handshake succeeds with B's certificate
	}{
		{"ifasked, cert client without CERTREQ", false, AuthKindCert, false},
		{"always, cert client without CERTREQ", true, AuthKindCert, true},
		{"always, DNS OE client", true, AuthKindPubkey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, "test", false)
			credB := ca.issue("b.example", s["p256"], "b.example")
			credB.Send = SendCertAlways // as oemeshd sends oe.cert: such clients ask for nothing
			n := newMemNet(t)
			a := n.addPeer(addrA, nil, func(c *EngineConfig) {
				c.CertVerifier = newTestCertVerifier(ca)
				c.CertAuthorities = [][]byte{CAKeyHash(ca.root)}
			})
			b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) {
				c.Credentials.Cert = credB
				c.CertOEAlways = tc.always
			})
			a.trust(b)
			var tr Trace
			opts := InitiateOptions{Auth: AuthKindNull, PeerAuth: tc.peerAuth, NoCertRequest: true, Trace: &tr}
			if tc.peerAuth == AuthKindPubkey {
				opts.PeerID = AddrIdentity(b.addr)
			}
			_, err := n.initiate(a, b, opts)
			if tc.wantCert {
				if err != nil {
					t.Fatal(err)
				}
				if tr.PeerCert == nil || tr.PeerCert.Subject != "CN=b.example,O=oemesh test,C=XX" || !tr.PeerAuthVerified {
					t.Errorf("trace: peer certificate %+v, verified %v; want B's certificate", tr.PeerCert, tr.PeerAuthVerified)
				}
				return
			}
			if err == nil {
				t.Fatalf("the handshake succeeded; want a refusal (peer certificate %+v, method %v)", tr.PeerCert, tr.PeerAuthMethod)
			}
			if tc.always && tr.PeerID.Type != IDDerASN1DN {
				t.Errorf("with CertOEAlways the DNS OE client was answered as %v, want the certificate's DN: %v", tr.PeerID, err)
			}
			if !tc.always && tr.PeerCert != nil {
				t.Errorf("without CertOEAlways a client without CERTREQ got the certificate")
			}
		})
	}
}
