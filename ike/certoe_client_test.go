package ike

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// nameCheck is a per-initiation CertVerifier, as certificate OE builds
// one: the chain must verify (inner) and the certificate hold a name
// (here: SAN dNSName) the engine-wide verifier knows nothing of.
type nameCheck struct {
	inner *testCertVerifier
	name  string
	calls int
}

var errWrongName = errors.New("the certificate does not name the destination")

func (v *nameCheck) VerifyCert(ctx context.Context, chain [][]byte, peer Identity) (crypto.PublicKey, error) {
	v.calls++
	key, err := v.inner.VerifyCert(ctx, chain, peer)
	if err != nil {
		return nil, err
	}
	ee, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ee.DNSNames, v.name) {
		return nil, errWrongName
	}
	return key, nil
}

// A per-initiation verifier (InitiateOptions.PeerCertVerifier) checks the
// responder's chain instead of the engine's, with no engine-wide
// verifier at all, and its CAs go into the CERTREQ: a certificate for
// the expected name is accepted, one for another name is refused with
// the verifier's error in the chain.
func TestInitiatePeerCertVerifier(t *testing.T) {
	s := signers(t)
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{{"match", "b.example", true}, {"other-name", "www.example", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, "test", false)
			credB := ca.issue("b.example", s["p256"], "b.example")
			n := newMemNet(t)
			a := n.addPeer(addrA, nil, nil) // no CertVerifier
			b := n.addPeer(addrB, nil, func(c *EngineConfig) { c.Credentials.Cert = credB })
			v := &nameCheck{inner: newTestCertVerifier(ca), name: tc.want}
			var tr Trace
			_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert,
				PeerCertVerifier: v, PeerCertAuthorities: [][]byte{CAKeyHash(ca.root)}, Trace: &tr})
			if v.calls != 1 {
				t.Errorf("the per-initiation verifier was called %d times, want 1", v.calls)
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if tr.PeerCert == nil || !slices.Equal(tr.PeerCert.DNSNames, []string{"b.example"}) {
					t.Errorf("peer certificate %+v", tr.PeerCert)
				}
				return
			}
			if !errors.Is(err, errWrongName) || !errors.Is(err, ErrAuthentication) {
				t.Errorf("err %v, want the verifier's refusal as an authentication failure", err)
			}
			if st := a.e.Stats(); st.CertFailures[CertFailureOther] != 1 {
				t.Errorf("cert failures %v, want one", st.CertFailures)
			}
		})
	}
}

// Without a verifier anywhere, an initiation that wants a certificate is
// refused before anything is sent.
func TestInitiateCertWithoutVerifier(t *testing.T) {
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, nil)
	b := n.addPeer(addrB, nil, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert}); err == nil {
		t.Fatal("initiation wanting a certificate without a verifier: no error")
	}
}

// AddressRequest.OnlyBehindNAT: behind a NAT the address is asked for
// (tunnel mode, wide TSi narrowed to the lease, ChildSA.VirtualIPs set);
// without one, no CP goes out and the CHILD SA is the host's own, in
// the mode asked for.
func TestAddressRequestOnlyBehindNAT(t *testing.T) {
	s := signers(t)
	for _, nat := range []bool{true, false} {
		name := "no-nat"
		if nat {
			name = "behind-nat"
		}
		t.Run(name, func(t *testing.T) {
			ca := newTestCA(t, "test", false)
			credB := ca.issue("b.example", s["p256"], "b.example")
			n, a, b, _, _ := certOEPair(t, ca, credB, false)
			if nat {
				n.nat = &memNAT{inner: addrA, outer: netip.MustParseAddr("198.51.100.7"), ports: map[uint16]uint16{500: 40000, 4500: 40001}}
			}
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert, Mode: ModeTransport,
				RequestAddress: AddressRequest{IPv4: true, OnlyBehindNAT: true}})
			if err != nil {
				t.Fatal(err)
			}
			c, ok := a.inst.get(info.SPIIn)
			if !ok {
				t.Fatal("A installed no CHILD SA")
			}
			if !nat {
				if len(info.VirtualIPs) != 0 || len(c.VirtualIPs) != 0 || info.Mode != ModeTransport {
					t.Errorf("without NAT: virtual IPs %v / %v, mode %v; want none, transport", info.VirtualIPs, c.VirtualIPs, info.Mode)
				}
				if len(c.TSLocal) != 1 || c.TSLocal[0].Start != addrA {
					t.Errorf("without NAT: TSi %v, want A's own address", c.TSLocal)
				}
				return
			}
			want := addrs("100.64.0.1")
			if !slices.Equal(info.VirtualIPs, want) || !slices.Equal(c.VirtualIPs, want) || info.Mode != ModeTunnel {
				t.Errorf("behind NAT: virtual IPs %v / installed %v, mode %v; want %v in tunnel mode", info.VirtualIPs, c.VirtualIPs, info.Mode, want)
			}
			if len(c.TSLocal) != 1 || c.TSLocal[0].Start != want[0] || c.TSLocal[0].End != want[0] {
				t.Errorf("behind NAT: TSi %v, want the lease", c.TSLocal)
			}
			// B, which leased, installs no virtual IPs of its own.
			cb, _ := b.inst.get(c.SPIOut)
			if len(cb.VirtualIPs) != 0 {
				t.Errorf("B's CHILD SA has virtual IPs %v", cb.VirtualIPs)
			}
		})
	}
}

// A responder that answers a certificate request with its raw key fails
// the initiation with ErrPeerAuthMethod, which says the peer is not at
// fault, beside ErrAuthentication.
func TestInitiateCertAnsweredByRawKey(t *testing.T) {
	ca := newTestCA(t, "test", false)
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, nil)
	b := n.addPeer(addrB, newEd25519(t), nil) // no certificate
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert, PeerCertVerifier: newTestCertVerifier(ca)})
	if !errors.Is(err, ErrPeerAuthMethod) || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err %v, want ErrPeerAuthMethod and ErrAuthentication", err)
	}
}

// cpPolicy serves only initiators that were leased an address, as a
// Libreswan modecfg server answers FAILED_CP_REQUIRED to the others.
type cpPolicy struct{ *fakePolicy }

func (p cpPolicy) Child(ctx context.Context, req ChildRequest) (ChildDecision, error) {
	if len(req.Leased) == 0 {
		return ChildDecision{}, &NotifyError{Type: wire.NotifyFailedCPRequired}
	}
	return p.fakePolicy.Child(ctx, req)
}

// FAILED_CP_REQUIRED to an initiation that asked for no address fails it
// with ErrCPRequired, and the useless IKE SA is deleted on both sides;
// asking again with an address request succeeds.
func TestCPRequired(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	credB := ca.issue("b.example", s["p256"], "b.example")
	n, a, b, _, _ := certOEPair(t, ca, credB, false)
	b.e.cfg.Policy = cpPolicy{b.e.cfg.Policy.(*leaseRecorder).fakePolicy}
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert, Mode: ModeTransport,
		RequestAddress: AddressRequest{IPv4: true, OnlyBehindNAT: true}})
	if !errors.Is(err, ErrCPRequired) {
		t.Fatalf("err %v, want ErrCPRequired", err)
	}
	n.drain()
	if as, bs := a.established(), b.established(); len(as) != 0 || len(bs) != 0 {
		t.Errorf("IKE SAs left: A %d, B %d; want none", len(as), len(bs))
	}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindCert, RequestAddress: AddressRequest{IPv4: true}})
	if err != nil || !slices.Equal(info.VirtualIPs, addrs("100.64.0.1")) {
		t.Fatalf("with an address request: %v, virtual IPs %v", err, info.VirtualIPs)
	}
}
