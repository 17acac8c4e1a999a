package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/oe"
)

var _ oe.CertTrust = (*certTrust)(nil)

// TestCertTrustCAFile: with ca-file, a server certificate (EKU
// serverAuth, as ACME issues) from the bundle's CA is accepted for the
// name and the address it holds, and refused, as id_mismatch, for
// another; a certificate from another CA is unknown_ca; the CERTREQ
// names the bundle's CA.
func TestCertTrustCAFile(t *testing.T) {
	root := certstest.NewRoot(t, "oe root")
	inter := root.NewIntermediate(t, "oe issuer")
	b := netip.MustParseAddr("198.18.0.2")
	srv := inter.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "www.example"}, DNSNames: []string{"www.example"},
		IPs: []netip.Addr{b}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	stranger := certstest.NewRoot(t, "other root").Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "www.example"}, DNSNames: []string{"www.example"}})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certstest.WriteFile(t, caFile, certstest.CertPEM(root.Cert))
	quiet := slog.New(slog.DiscardHandler)

	if tr, err := loadCertTrust(config.OE{TrustCertificates: "off"}, clock.System{}, quiet); tr != nil || err != nil {
		t.Errorf("off: %v, %v", tr, err)
	}
	tr, err := loadCertTrust(config.OE{TrustCertificates: "ca-file", TrustCA: caFile}, clock.System{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if cas := tr.Authorities(); len(cas) != 1 || !bytes.Equal(cas[0], ike.CAKeyHash(root.Cert)) {
		t.Errorf("CERTREQ authorities %x, want the root's key hash", cas)
	}
	ctx := context.Background()
	dn := ike.CertDNIdentity(srv.Cert)
	for _, want := range []ike.Identity{ike.FQDNIdentity("www.example"), ike.AddrIdentity(b)} {
		if _, err := tr.VerifyNamed(ctx, srv.DER(), dn, want); err != nil {
			t.Errorf("%v: %v", want, err)
		}
	}
	for _, tc := range []struct {
		chain  [][]byte
		want   ike.Identity
		reason certs.Reason
	}{
		{srv.DER(), ike.FQDNIdentity("other.example"), certs.IDMismatch},
		{srv.DER(), ike.AddrIdentity(netip.MustParseAddr("198.18.0.3")), certs.IDMismatch},
		{stranger.DER(), ike.FQDNIdentity("www.example"), certs.UnknownCA},
	} {
		_, err := tr.VerifyNamed(ctx, tc.chain, ike.CertDNIdentity(mustLeaf(t, tc.chain)), tc.want)
		var ve *certs.VerifyError
		if !errors.As(err, &ve) || ve.Reason != tc.reason {
			t.Errorf("%v: %v, want %v", tc.want, err, tc.reason)
		}
		var l ike.CertFailureLabeler
		if !errors.As(err, &l) || l.MetricLabel() != tc.reason.String() {
			t.Errorf("%v: no metric label %v in %v", tc.want, tc.reason, err)
		}
	}

	var out bytes.Buffer
	if err := checkCertTrust(&out, config.OE{TrustCertificates: "ca-file", TrustCA: caFile}); err != nil || !strings.Contains(out.String(), "1 CAs") {
		t.Errorf("check: %v, %q", err, out.String())
	}
	if _, err := loadCertTrust(config.OE{TrustCertificates: "ca-file", TrustCA: filepath.Join(t.TempDir(), "none.pem")}, clock.System{}, quiet); err == nil ||
		!strings.Contains(err.Error(), "oe.trust_ca") {
		t.Errorf("missing bundle: %v", err)
	}
}

func mustLeaf(t *testing.T, chain [][]byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertTrustWebPKI: webpki trusts the system's roots, names no CA in
// the CERTREQ (any CA), and refuses the test CA's certificate as
// unknown_ca.
func TestCertTrustWebPKI(t *testing.T) {
	if _, err := x509.SystemCertPool(); err != nil {
		t.Skipf("no system roots here: %v", err)
	}
	tr, err := loadCertTrust(config.OE{TrustCertificates: "webpki"}, clock.System{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Authorities()) != 0 {
		t.Errorf("webpki CERTREQ names %d CAs, want none (any CA)", len(tr.Authorities()))
	}
	srv := certstest.NewRoot(t, "private root").Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "www.example"}, DNSNames: []string{"www.example"}})
	_, err = tr.VerifyNamed(context.Background(), srv.DER(), ike.CertDNIdentity(srv.Cert), ike.FQDNIdentity("www.example"))
	var ve *certs.VerifyError
	if !errors.As(err, &ve) || ve.Reason != certs.UnknownCA {
		t.Errorf("a private CA's certificate under webpki: %v, want unknown_ca", err)
	}
}
