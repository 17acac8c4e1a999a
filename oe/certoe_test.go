package oe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// testCA is a root that signs end-entity certificates, made with
// crypto/x509 (oe does not import the certs package or its test PKI).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// issue makes a server certificate with these SAN names and addresses.
func (ca *testCA) issue(t *testing.T, cn string, names []string, addrs []netip.Addr) *ike.CertCredential {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, a := range addrs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &ike.CertCredential{Chain: [][]byte{der}, Signer: key}
}

// mismatch is a refusal with the label certs gives a wrong name.
type mismatch struct{ msg string }

func (e *mismatch) Error() string       { return e.msg }
func (e *mismatch) MetricLabel() string { return "id_mismatch" }

// fakeTrust is a CertTrust over one root: the chain must verify, the
// claimed ID be the subject DN, and the certificate name want.
type fakeTrust struct {
	ca    *testCA
	calls []ike.Identity // the want of each call
}

func (f *fakeTrust) VerifyNamed(_ context.Context, chain [][]byte, claimed, want ike.Identity) (crypto.PublicKey, error) {
	f.calls = append(f.calls, want)
	ee, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.cert)
	if _, err := ee.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		return nil, err
	}
	if claimed.Type != ike.IDDerASN1DN || string(claimed.Data) != string(ee.RawSubject) {
		return nil, &mismatch{"claimed ID is not the subject"}
	}
	switch want.Type {
	case ike.IDFQDN:
		if !slices.Contains(ee.DNSNames, string(want.Data)) {
			return nil, &mismatch{fmt.Sprintf("no SAN dNSName %s", want.Data)}
		}
	default:
		a, _ := netip.AddrFromSlice(want.Data)
		if !slices.ContainsFunc(ee.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IP(a.AsSlice())) }) {
			return nil, &mismatch{fmt.Sprintf("no SAN iPAddress %s", a)}
		}
	}
	return ee.PublicKey, nil
}

func (f *fakeTrust) Authorities() [][]byte { return [][]byte{ike.CAKeyHash(f.ca.cert)} }

// certOEPair is A, a certificate OE client that trusts ca and finds no
// key in DNS for B (private-or-clear), and B, a server with cred (or,
// nil, only its raw key) whose DNS key for A it does not need (A is
// NULL).
func certOEPair(t *testing.T, ca *testCA, cred *ike.CertCredential, bindings ...BindingSource) (a *OE, dpA *fake.Dataplane, trust *fakeTrust) {
	a, dpA, trust, _ = certOEPairDNS(t, ca, cred, bindings...)
	return a, dpA, trust
}

// certOEPairDNS is certOEPair that also returns A's DNS.
func certOEPairDNS(t *testing.T, ca *testCA, cred *ike.CertCredential, bindings ...BindingSource) (a *OE, dpA *fake.Dataplane, trust *fakeTrust, dnsA *oetest.DNS) {
	return certOEPairWith(t, ca, cred, nil, bindings...)
}

// certOEPairWith is certOEPairDNS with B's engine configured further by
// modB, which gets a pointer B's OE will be stored in once it exists.
func certOEPairWith(t *testing.T, ca *testCA, cred *ike.CertCredential, modB func(*ike.EngineConfig, *atomic.Pointer[OE]), bindings ...BindingSource) (a *OE, dpA *fake.Dataplane, trust *fakeTrust, dnsA *oetest.DNS) {
	t.Helper()
	trust = &fakeTrust{ca: ca}
	toB, toA := &pipe{}, &pipe{}
	dpA = fake.New(time.Now)
	cfgA := Config{CertTrust: trust}
	if len(bindings) > 0 {
		cfgA.Bindings = bindings[0]
	}
	dnsA = oetest.NewDNS()
	a, err := New(cfgA, dpA, dnsA, ike.EngineConfig{Credentials: ike.Credentials{Signer: oetest.NewKey(t)}, Sender: toB, GiveUp: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	credB := ike.Credentials{Signer: oetest.NewKey(t), Cert: cred}
	ecB := ike.EngineConfig{Credentials: credB, Sender: toA, GiveUp: 3 * time.Second}
	var bp atomic.Pointer[OE]
	if modB != nil {
		modB(&ecB, &bp)
	}
	b, err := New(Config{}, fake.New(time.Now), oetest.NewDNS(), ecB)
	if err != nil {
		t.Fatal(err)
	}
	bp.Store(b)
	t.Cleanup(func() { b.Close() })
	toB.to.Store(b)
	toA.to.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": addrB.String() + "\n"}))
	b.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"clear-or-private": addrA.String() + "\n"}))
	go a.Run(ctx)
	go b.Run(ctx)
	return a, dpA, trust, dnsA
}

// A responder without a key in DNS that presents a certificate naming
// the destination's address is accepted: the tunnel is authenticated by
// certificate, and the trust was asked for the address.
func TestCertOEClientAcceptsAddressSAN(t *testing.T) {
	ca := newCA(t)
	a, _, trust := certOEPair(t, ca, ca.issue(t, "b", []string{"b.example"}, []netip.Addr{addrB}))
	if err := a.Up(context.Background(), addrA, addrB); err != nil {
		t.Fatal(err)
	}
	ts := a.tunnels.ToPeer(addrB)
	if len(ts) != 1 || ts[0].Auth != ike.AuthKindCert {
		t.Fatalf("a's tunnels to b: %s, want one authenticated by certificate", authsOf(ts))
	}
	if len(trust.calls) != 1 || trust.calls[0].String() != ike.AddrIdentity(addrB).String() {
		t.Errorf("the trust was asked for %v, want b's address", trust.calls)
	}
}

// A valid certificate for another name is refused: the negotiation
// fails with the verifier's reason, the flow gets private-or-clear's
// failure shunt (clear), and no NULL tunnel is made instead.
func TestCertOEClientRefusesOtherName(t *testing.T) {
	ca := newCA(t)
	a, dpA, _ := certOEPair(t, ca, ca.issue(t, "other", []string{"other.example"}, nil))
	err := a.Up(context.Background(), addrA, addrB)
	var ne *NegotiationError
	if !errors.As(err, &ne) || ne.Result != ResultClear || !errors.Is(err, ike.ErrAuthentication) {
		t.Fatalf("Up: %v, want a failure with the clear shunt", err)
	}
	var m *mismatch
	if !errors.As(err, &m) || !strings.Contains(ne.Reason, "certificate") {
		t.Errorf("the failure %q does not carry the name mismatch", ne.Reason)
	}
	if st := a.Stats(); st.Failures["cert-id_mismatch"] != 1 {
		t.Errorf("failures %v, want cert-id_mismatch", st.Failures)
	}
	if got := a.Engine().Stats().CertFailures["id_mismatch"]; got != 1 {
		t.Errorf("the engine counted %d id_mismatch certificate failures, want 1", got)
	}
	if s, ok := oetest.ShuntFor(dpA, addrB.String()); !ok || s.Kind != kernel.ShuntPass {
		t.Errorf("shunt %+v %v, want pass", s, ok)
	}
	if ts := a.tunnels.ToPeer(addrB); len(ts) != 0 {
		t.Errorf("a has tunnels to b: %s", authsOf(ts))
	}
}

// A responder that has no certificate answers with its raw key: that
// says nothing against it, and NULL OE follows (oe.null_auth fallback).
func TestCertOEClientFallsBackToNull(t *testing.T) {
	a, _, _ := certOEPair(t, newCA(t), nil)
	if err := a.Up(context.Background(), addrA, addrB); err != nil {
		t.Fatal(err)
	}
	if ts := a.tunnels.ToPeer(addrB); len(ts) != 1 || ts[0].Auth != ike.AuthKindNull {
		t.Fatalf("a's tunnels to b: %s, want one NULL", authsOf(ts))
	}
	if st := a.Stats(); len(st.Failures) != 0 {
		t.Errorf("failures %v", st.Failures)
	}
}

// certName: the bound name, else the address.
func TestCertName(t *testing.T) {
	if got := certName(addrB, "www.example."); got.String() != ike.FQDNIdentity("www.example").String() || got.Type != ike.IDFQDN {
		t.Errorf("bound: %v", got)
	}
	if got := certName(addrB, ""); got.String() != ike.AddrIdentity(addrB).String() {
		t.Errorf("unbound: %v", got)
	}
}

// catFor translates only a tunnel-mode pair whose one local selector is
// an address the responder assigned us.
func TestCATFor(t *testing.T) {
	lease := netip.MustParseAddr("100.64.0.1")
	sa := ike.ChildSA{Local: addrA, VirtualIPs: []netip.Addr{lease}}
	p := kernel.SAPair{Mode: kernel.ModeTunnel, Local: []netip.Prefix{netip.PrefixFrom(lease, 32)}}
	if c := catFor(sa, p); c == nil || c.Host != addrA || c.Leased != lease {
		t.Errorf("lease: %+v", c)
	}
	for name, mod := range map[string]func(*ike.ChildSA, *kernel.SAPair){
		"no-lease":  func(sa *ike.ChildSA, _ *kernel.SAPair) { sa.VirtualIPs = nil },
		"transport": func(_ *ike.ChildSA, p *kernel.SAPair) { p.Mode = kernel.ModeTransport },
		"own-addr":  func(_ *ike.ChildSA, p *kernel.SAPair) { p.Local = []netip.Prefix{netip.PrefixFrom(addrA, 32)} },
		"wide": func(_ *ike.ChildSA, p *kernel.SAPair) {
			p.Local = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/24")}
		},
	} {
		s, q := sa, p
		mod(&s, &q)
		if c := catFor(s, q); c != nil {
			t.Errorf("%s: %+v", name, c)
		}
	}
}

// A destination bound to a name without a key (the stub's BindNames)
// must present a certificate for that name: its address in the SAN is
// not enough, and another name is refused. No reverse look-up is made,
// as for a name with keys.
func TestCertOEClientBoundName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string
		addrs []netip.Addr
		ok    bool
	}{
		{"name", []string{"www.example"}, nil, true},
		{"address-only", nil, []netip.Addr{addrB}, false},
		{"other-name", []string{"other.example"}, []netip.Addr{addrB}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, err := dnskey.NewBindings(dnskey.BindingsConfig{NameOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Bind("www.example.", []netip.Addr{addrB}, dnskey.Result{}, time.Minute); err != nil {
				t.Fatal(err)
			}
			ca := newCA(t)
			a, _, trust, dnsA := certOEPairDNS(t, ca, ca.issue(t, "b", tc.names, tc.addrs), store)
			err = a.Up(context.Background(), addrA, addrB)
			if n := dnsA.Lookups(); n != 0 {
				t.Errorf("%d DNS look-ups for a target bound to a name without a key, want none", n)
			}
			if len(trust.calls) != 1 || trust.calls[0].Type != ike.IDFQDN || string(trust.calls[0].Data) != "www.example" {
				t.Errorf("the trust was asked for %v, want @www.example", trust.calls)
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if ts := a.tunnels.ToPeer(addrB); len(ts) != 1 || ts[0].Auth != ike.AuthKindCert {
					t.Errorf("a's tunnels: %s", authsOf(ts))
				}
				return
			}
			if st := a.Stats(); err == nil || st.Failures["cert-id_mismatch"] != 1 {
				t.Errorf("Up: %v, failures %v; want an id_mismatch failure", err, st.Failures)
			}
		})
	}
}

// cpServer is B's OE as a modecfg server that requires an address
// request, as Libreswan's with an address pool: a CHILD SA for no lease
// is answered FAILED_CP_REQUIRED (notify 37).
type cpServer struct{ *atomic.Pointer[OE] }

func (p cpServer) AcceptAuth(ctx context.Context, req ike.AuthRequest) error {
	return p.Load().AcceptAuth(ctx, req)
}
func (p cpServer) SignForNull(req ike.AuthRequest) bool { return p.Load().SignForNull(req) }
func (p cpServer) Child(ctx context.Context, req ike.ChildRequest) (ike.ChildDecision, error) {
	if len(req.Leased) == 0 {
		return ike.ChildDecision{}, &ike.NotifyError{Type: 37}
	}
	return p.Load().Child(ctx, req)
}

// A responder that requires an address request (FAILED_CP_REQUIRED) gets
// a second initiation that asks for one although A is behind no NAT: the
// tunnel comes up in tunnel mode for the lease, translated (CAT).
func TestCertOEClientCPRequired(t *testing.T) {
	ca := newCA(t)
	a, dpA, _, _ := certOEPairWith(t, ca, ca.issue(t, "b", nil, []netip.Addr{addrB}), func(c *ike.EngineConfig, b *atomic.Pointer[OE]) {
		pool, err := addrpool.Parse([]string{"100.64.0.1-100.64.0.9"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.AddressPool = pool
		c.Policy = cpServer{b}
	})
	if err := a.Up(context.Background(), addrA, addrB); err != nil {
		t.Fatal(err)
	}
	lease := netip.MustParseAddr("100.64.0.1")
	var cat *kernel.CAT
	for _, c := range dpA.Calls() {
		if p, ok := c.Arg.(kernel.SAPair); ok && c.Method == "InstallSA" {
			cat = p.CAT
		}
	}
	if cat == nil || cat.Host != addrA || cat.Leased != lease {
		t.Errorf("A's SA pair translates %+v, want %s to %s", cat, addrA, lease)
	}
}
