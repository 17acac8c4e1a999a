package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/logtest"
)

func TestCertVerifier(t *testing.T) {
	ca, other := newToolCA(t, "test"), newToolCA(t, "other")
	key := certstest.NewKey(t, certstest.ECDSAP256)
	good := ca.issue("gw.example", key, nil, "gw.example", "192.0.2.7")
	dn := ike.Identity{Type: ike.IDDerASN1DN, Data: good.RawSubject}
	written, err := parseDN("C=XX, O=oemesh test, CN=gw.example")
	if err != nil {
		t.Fatal(err)
	}
	expired := ca.issue("old.example", key, func(o *certstest.Options) {
		o.NotBefore, o.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}, "old.example")
	noSign := ca.issue("enc.example", key, func(o *certstest.Options) { o.KeyUsage = x509.KeyUsageKeyEncipherment }, "enc.example")
	v, err := newCertVerifier([]*x509.Certificate{ca.root})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		chain []*x509.Certificate
		id    ike.Identity
		err   certs.Reason // 0 (certs.Reason zero) with ok accepts
		ok    bool
	}{
		{"DN", []*x509.Certificate{good, ca.inter}, dn, 0, true},
		{"DN as written", []*x509.Certificate{good, ca.inter}, written, 0, true},
		{"FQDN", []*x509.Certificate{good, ca.inter}, ike.FQDNIdentity("GW.example."), 0, true},
		{"IP", []*x509.Certificate{good, ca.inter}, ike.AddrIdentity(netip.MustParseAddr("192.0.2.7")), 0, true},
		{"no intermediate", []*x509.Certificate{good}, dn, certs.UnknownCA, false},
		{"unknown CA", []*x509.Certificate{other.issue("gw.example", key, nil, "gw.example"), other.inter}, ike.FQDNIdentity("gw.example"), certs.UnknownCA, false},
		{"expired", []*x509.Certificate{expired, ca.inter}, ike.FQDNIdentity("old.example"), certs.Expired, false},
		{"wrong FQDN", []*x509.Certificate{good, ca.inter}, ike.FQDNIdentity("www.example"), certs.IDMismatch, false},
		{"wrong IP", []*x509.Certificate{good, ca.inter}, ike.AddrIdentity(netip.MustParseAddr("192.0.2.8")), certs.IDMismatch, false},
		{"wrong DN", []*x509.Certificate{good, ca.inter}, ike.Identity{Type: ike.IDDerASN1DN, Data: ca.inter.RawSubject}, certs.IDMismatch, false},
		{"no signing key usage", []*x509.Certificate{noSign, ca.inter}, ike.FQDNIdentity("enc.example"), certs.WrongKeyUsage, false},
		{"key ID", []*x509.Certificate{good, ca.inter}, ike.Identity{Type: ike.IDKeyID, Data: []byte{1}}, certs.IDMismatch, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var chain [][]byte
			for _, x := range c.chain {
				chain = append(chain, x.Raw)
			}
			k, err := v.VerifyCert(context.Background(), chain, c.id)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k) {
					t.Error("the returned key is not the certificate's")
				}
				return
			}
			var ve *certs.VerifyError
			if !errors.As(err, &ve) || ve.Reason != c.err {
				t.Fatalf("err = %v, want a %v refusal", err, c.err)
			}
		})
	}
	if _, err := v.VerifyCert(context.Background(), nil, dn); err == nil {
		t.Error("an empty chain was accepted")
	}
	if _, err := v.VerifyCert(context.Background(), [][]byte{{0x30, 0}}, dn); err == nil {
		t.Error("a malformed certificate was accepted")
	}
}

func TestParseDN(t *testing.T) {
	ca := newToolCA(t, "test")
	c := ca.issue("a.example", certstest.NewKey(t, certstest.Ed25519), nil)
	id, err := parseIdentity("id", "C=XX, O=oemesh test, CN=a.example")
	if err != nil || id.Type != ike.IDDerASN1DN || !ike.SameIdentity(id, ike.CertDNIdentity(c)) {
		t.Fatalf("parseIdentity DN = %v, %v; want the subject of %q", id, err, c.Subject)
	}
	if id, err := parseDN(`CN=a\, b, OU=x, O=y/z`); err != nil || !strings.Contains(id.String(), `CN=a\\, b,OU=x,O=y/z`) {
		t.Errorf("escaped comma, slash in a value: %v %v", id, err)
	}
	for _, bad := range []string{"=", "CN=", "XX=1", "C=XX, ", " , "} {
		if id, err := parseDN(bad); err == nil && bad != "C=XX, " {
			t.Errorf("parseDN(%q) = %v, want an error", bad, id)
		}
	}
	if ike.SameIdentity(ike.CertDNIdentity(c), ike.CertDNIdentity(ca.inter)) || ike.SameIdentity(ike.Identity{Type: ike.IDDerASN1DN, Data: []byte{1}}, ike.CertDNIdentity(c)) {
		t.Error("SameIdentity matched different DNs")
	}
}

func TestToolFlagsCert(t *testing.T) {
	ca := newToolCA(t, "test")
	dir := t.TempDir()
	key := certstest.NewKey(t, certstest.RSA2048)
	leaf := ca.issue("a.example", key, nil, "a.example")
	certFile := writePEM(t, dir, "a.pem", []*x509.Certificate{leaf, ca.inter}, nil)
	keyFile := writePEM(t, dir, "a.key", nil, key)
	caFile := writePEM(t, dir, "ca.pem", []*x509.Certificate{ca.root}, nil)
	key2 := certstest.NewKey(t, certstest.ECDSAP256)
	more := writePEM(t, dir, "b.pem", []*x509.Certificate{ca.issue("b.example", key2, nil, "b.example")}, nil) + "," + writePEM(t, dir, "b.key", nil, key2)
	f := ikeToolFlags{auth: "cert", certFile: certFile, keyFile: keyFile, caFile: caFile, sendCert: "always", id: "@a.example", timeout: time.Second,
		moreCerts: []string{more}}
	s, err := f.setup(&strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.creds.Certs; len(m) != 1 || len(m[0].Chain) != 1 || m[0].Send != ike.SendCertAlways || m[0].ID.Type != 0 || m[0].Signer == nil {
		t.Errorf("--more-cert: %+v", m)
	} else if m0, _ := x509.ParseCertificate(m[0].Chain[0]); !certHoldsID(m0, ike.FQDNIdentity("b.example")) || certHoldsID(m0, ike.FQDNIdentity("a.example")) {
		t.Error("certHoldsID: want b.example held by --more-cert's certificate, a.example not")
	}
	c := s.creds.Cert
	if s.auth != ike.AuthKindCert || s.peerAuth != ike.AuthKindCert || c == nil || len(c.Chain) != 2 || c.Send != ike.SendCertAlways ||
		c.ID.Type != ike.IDFQDN || s.creds.ID.Type != 0 || s.certVerifier == nil || len(s.certAuthorities) != 1 {
		t.Fatalf("setup: %+v, cert %+v", s, c)
	}
	for name, mod := range map[string]func(*ikeToolFlags){
		"no --cert":                 func(f *ikeToolFlags) { f.certFile = "" },
		"no --ca":                   func(f *ikeToolFlags) { f.caFile = "" },
		"bad --send-cert":           func(f *ikeToolFlags) { f.sendCert = "sometimes" },
		"key as --cert":             func(f *ikeToolFlags) { f.certFile = keyFile },
		"--cert with null":          func(f *ikeToolFlags) { f.auth = "null" },
		"bad DN --id":               func(f *ikeToolFlags) { f.id = "XX=1" },
		"--more-cert without a key": func(f *ikeToolFlags) { f.moreCerts = []string{certFile} },
		"--more-cert with a key that is not its certificate's": func(f *ikeToolFlags) { f.moreCerts = []string{certFile + "," + strings.Split(more, ",")[1]} },
		"--more-cert with null":                                func(f *ikeToolFlags) { f.auth, f.certFile = "null", "" },
	} {
		g := f
		mod(&g)
		if _, err := g.setup(&strings.Builder{}); err == nil {
			t.Errorf("%s: setup succeeded", name)
		}
	}
}

// TestProbeRespondCert: probe and respond authenticate each other with
// RSA certificates from a test CA through an intermediate, with a DN ID on
// one side and an FQDN on the other, IKE_AUTH fragmented.
func TestProbeRespondCert(t *testing.T) {
	ca := newToolCA(t, "test")
	dir := t.TempDir()
	ka, kb := certstest.NewKey(t, certstest.RSA2048), certstest.NewKey(t, certstest.RSA2048)
	a := ca.issue("probe.example", ka, nil, "probe.example")
	b := ca.issue("respond.example", kb, nil, "respond.example")
	caFile := writePEM(t, dir, "ca.pem", []*x509.Certificate{ca.root}, nil)
	resp := exec.Command(filepath.Join(builtDir, "oemesh"), "respond", "--listen", "127.0.0.1", "--port", "0", "--natt-port", "0",
		"--count", "1", "--debug", "--auth", "cert", "--cert", writePEM(t, dir, "b.pem", []*x509.Certificate{b, ca.inter}, nil),
		"--key", writePEM(t, dir, "b.key", nil, kb), "--ca", caFile, "--id", "@respond.example",
		"--peer-id", "C=XX, O=oemesh test, CN=probe.example", "--frag-threshold", "400")
	var so, se logtest.Buffer
	resp.Stdout, resp.Stderr = &so, &se
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { resp.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			resp.Process.Kill()
			<-exited
		}
	})
	portRe := regexp.MustCompile(`msg=responding ike=\[127\.0\.0\.1:(\d+)\]`)
	var port string
	for deadline := time.Now().Add(10 * time.Second); port == ""; time.Sleep(20 * time.Millisecond) {
		if m := portRe.FindStringSubmatch(se.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("respond did not report its port:\n%s", se.String())
		}
	}
	r := run(t, "oemesh", "probe", "127.0.0.1", "--port", port, "--auth", "cert",
		"--cert", writePEM(t, dir, "a.pem", []*x509.Certificate{a, ca.inter}, nil), "--key", writePEM(t, dir, "a.key", nil, ka),
		"--ca", caFile, "--peer-id", "@respond.example", "--frag-threshold", "400", "--timeout", "5s", "--json")
	var rep probeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe --json: %v\n%+v", err, r)
	}
	if r.code != 0 || !rep.Established {
		t.Fatalf("probe: %+v\nrespond:\n%s", r, se.String())
	}
	pa := rep.PeerAuth
	if !pa.Verified || pa.Cert == nil || pa.Cert.Subject != "CN=respond.example,O=oemesh test,C=XX" || pa.Cert.Issuer != "CN=test Intermediate CA,O=oemesh test,C=XX" ||
		!pa.CertReq || pa.CertsSent != 2 {
		t.Errorf("probe's peer auth: %+v (cert %+v)", pa, pa.Cert)
	}
	sum := sha256.Sum256(b.Raw)
	if want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]); pa.Cert != nil && (pa.Cert.Fingerprint != want || pa.Cert.NotAfter == "" ||
		len(pa.Cert.DNSNames) != 1 || pa.Cert.DNSNames[0] != "respond.example") {
		t.Errorf("probe's peer certificate %+v; want fingerprint %s, the expiry and the SAN", pa.Cert, want)
	}
	if rep.Fragments.Sent == 0 || rep.Fragments.Received == 0 {
		t.Errorf("fragments: %+v, want IKE_AUTH fragmented both ways", rep.Fragments)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("respond --count 1 still runs after a CHILD SA came up:\n%s", so.String())
	}
	if !strings.Contains(so.String(), "(cert)") {
		t.Errorf("respond did not report a certificate-authenticated peer:\n%s", so.String())
	}
}
