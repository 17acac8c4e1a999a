package certs

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"golang.org/x/crypto/ocsp"
)

func TestVerifyCRL(t *testing.T) {
	p := newPKI(t)
	now := p.clock.Now()
	ctx := context.Background()
	// A serial the root has not used, so that the root's CRL below lists
	// the same number without meaning this certificate.
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}, Serial: 777})
	serial := ee.Cert.SerialNumber
	id := fqdn("gw.example")
	withCRLs := func(crls ...*x509.RevocationList) func(*Config) {
		return func(c *Config) { c.CRLs = crls }
	}

	// The intermediate's CRL revokes the EE.
	revoking := p.inter.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(999), serial)
	_, err := p.verifier(t, withCRLs(revoking)).Verify(ctx, ee.DER(), id)
	wantReason(t, err, Revoked, serial)

	// Still revoked by a CRL past its NextUpdate: revocation is permanent.
	stale := p.inter.CRL(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), serial)
	_, err = p.verifier(t, withCRLs(stale)).Verify(ctx, ee.DER(), id)
	wantReason(t, err, Revoked, serial)

	// A current CRL not listing it: accepted.
	clean := p.inter.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(999))
	if _, err := p.verifier(t, withCRLs(clean)).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("with a CRL not listing it: %v", err)
	}

	// A CRL by another CA listing the same serial does not apply: the
	// root's serials are another namespace.
	rootCRL := p.root.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), serial)
	if _, err := p.verifier(t, withCRLs(rootCRL)).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("with another issuer's CRL: %v", err)
	}

	// A CRL under the intermediate's name but signed by an impostor is ignored.
	impostor := certstest.NewRoot(t, "oemesh test intermediate")
	forged := impostor.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), serial)
	if _, err := p.verifier(t, withCRLs(forged)).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("with a forged CRL: %v", err)
	}

	// The root's CRL revokes the intermediate: the chain is refused, naming it.
	interRevoked := p.root.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), p.inter.Cert.SerialNumber)
	_, err = p.verifier(t, withCRLs(interRevoked)).Verify(ctx, ee.DER(), id)
	wantReason(t, err, Revoked, p.inter.Cert.SerialNumber)
}

// ocspPKI is a PKI whose intermediate runs an in-process OCSP responder
// that its EE certificates name.
type ocspPKI struct {
	*pki
	responder *certstest.OCSPResponder
	server    *httptest.Server
}

func newOCSPPKI(t *testing.T) *ocspPKI {
	t.Helper()
	p := newPKI(t)
	r := &certstest.OCSPResponder{CA: p.inter, Now: p.clock.Now}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &ocspPKI{pki: p, responder: r, server: srv}
}

func (p *ocspPKI) verifierMode(t *testing.T, mode OCSPMode, mod func(*Config)) *Verifier {
	return p.verifier(t, func(c *Config) {
		c.OCSP = mode
		c.HTTPClient = p.server.Client()
		c.OCSPTimeout = 2 * time.Second
		c.Logger = slog.New(slog.DiscardHandler)
		if mod != nil {
			mod(c)
		}
	})
}

func TestVerifyOCSP(t *testing.T) {
	p := newOCSPPKI(t)
	ctx := context.Background()
	id := fqdn("gw.example")
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}, OCSPServer: []string{p.server.URL}})

	for _, mode := range []OCSPMode{OCSPSoft, OCSPHard} {
		v := p.verifierMode(t, mode, nil)
		before := p.responder.Requests()
		if _, err := v.Verify(ctx, ee.DER(), id); err != nil {
			t.Fatalf("mode %d, good: %v", mode, err)
		}
		if _, err := v.Verify(ctx, ee.DER(), id); err != nil {
			t.Fatalf("mode %d, good from the cache: %v", mode, err)
		}
		if n := p.responder.Requests() - before; n != 1 {
			t.Fatalf("mode %d: %d requests for two verifications, want 1 (the second from the cache)", mode, n)
		}
	}

	// The cache expires at the response's NextUpdate (an hour).
	v := p.verifierMode(t, OCSPHard, nil)
	v.Verify(ctx, ee.DER(), id)
	before := p.responder.Requests()
	p.clock.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, ee.DER(), id); err != nil {
		t.Fatal(err)
	}
	if p.responder.Requests() != before+1 {
		t.Fatal("a response past its NextUpdate was served from the cache")
	}

	// Revoked: refused in both modes.
	p.responder.SetStatus(ee.Cert.SerialNumber, ocsp.Revoked)
	for _, mode := range []OCSPMode{OCSPSoft, OCSPHard} {
		_, err := p.verifierMode(t, mode, nil).Verify(ctx, ee.DER(), id)
		wantReason(t, err, Revoked, ee.Cert.SerialNumber)
	}
	// Off: not asked.
	before = p.responder.Requests()
	if _, err := p.verifierMode(t, OCSPOff, nil).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("OCSP off: %v", err)
	}
	if p.responder.Requests() != before {
		t.Fatal("OCSP off asked the responder")
	}
	// A current CRL of the issuer answers first: OCSP is not asked.
	now := p.clock.Now()
	crl := p.inter.CRL(t, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := p.verifierMode(t, OCSPHard, func(c *Config) { c.CRLs = []*x509.RevocationList{crl} }).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("with a clean CRL: %v", err)
	}
	if p.responder.Requests() != before {
		t.Fatal("OCSP was asked although a current CRL answered")
	}

	// Unknown to the responder: soft accepts, hard refuses.
	p.responder.SetStatus(ee.Cert.SerialNumber, ocsp.Unknown)
	if _, err := p.verifierMode(t, OCSPSoft, nil).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("soft, unknown: %v", err)
	}
	_, err := p.verifierMode(t, OCSPHard, nil).Verify(ctx, ee.DER(), id)
	wantReason(t, err, RevocationUnknown, ee.Cert.SerialNumber)
}

func TestVerifyOCSPUnreachable(t *testing.T) {
	p := newOCSPPKI(t)
	ctx := context.Background()
	id := fqdn("gw.example")
	// A loopback port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/"
	l.Close()
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}, OCSPServer: []string{dead}})
	if _, err := p.verifierMode(t, OCSPSoft, nil).Verify(ctx, ee.DER(), id); err != nil {
		t.Fatalf("soft, unreachable: %v", err)
	}
	_, err = p.verifierMode(t, OCSPHard, nil).Verify(ctx, ee.DER(), id)
	wantReason(t, err, RevocationUnknown, ee.Cert.SerialNumber)

	// A responder answering with an HTTP error, then one whose answer is
	// signed by the wrong CA: hard refuses both.
	errSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(errSrv.Close)
	wrong := httptest.NewServer(&certstest.OCSPResponder{CA: certstest.NewRoot(t, "wrong")})
	t.Cleanup(wrong.Close)
	for _, url := range []string{errSrv.URL, wrong.URL} {
		ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}, OCSPServer: []string{url}})
		_, err = p.verifierMode(t, OCSPHard, nil).Verify(ctx, ee.DER(), id)
		wantReason(t, err, RevocationUnknown, ee.Cert.SerialNumber)
	}

	// Hard mode accepts a certificate that names no responder.
	plain := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}})
	if _, err := p.verifierMode(t, OCSPHard, nil).Verify(ctx, plain.DER(), id); err != nil {
		t.Fatalf("hard, no responder named: %v", err)
	}
}

func TestParseOCSPMode(t *testing.T) {
	for s, want := range map[string]OCSPMode{"": OCSPOff, "off": OCSPOff, "soft": OCSPSoft, "hard": OCSPHard} {
		if got, err := ParseOCSPMode(s); err != nil || got != want {
			t.Errorf("ParseOCSPMode(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if _, err := ParseOCSPMode("strict"); err == nil {
		t.Error(`ParseOCSPMode("strict") succeeded`)
	}
}
