package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// writeCRL writes a CRL of ca revoking the given certificates, valid for a
// day.
func writeCRL(t *testing.T, path string, ca *certstest.CA, revoked ...*certstest.Cert) {
	t.Helper()
	var serials []*big.Int
	for _, c := range revoked {
		serials = append(serials, c.Cert.SerialNumber)
	}
	now := time.Now()
	certstest.WriteFile(t, path, certstest.CRLPEM(ca.CRL(t, now.Add(-time.Minute), now.Add(24*time.Hour), serials...)))
}

// wantRevoked checks that err is a refusal with reason revoked, the label
// oemesh_cert_failures_total counts it by.
func wantRevoked(t *testing.T, what string, err error) {
	t.Helper()
	var ve *certs.VerifyError
	var l ike.CertFailureLabeler
	if !errors.As(err, &ve) || ve.Reason != certs.Revoked || !errors.As(err, &l) || l.MetricLabel() != "revoked" {
		t.Errorf("%s: %v, want a refusal with reason revoked", what, err)
	}
}

// TestConnCertsCRL: a conn's crl: and certs.crls both refuse a revoked
// peer; the conn's other peers pass; a CRL that does not load is an error
// naming the conn and its key.
func TestConnCertsCRL(t *testing.T) {
	f := newCertFixture(t)
	peerID := ike.CertDNIdentity(f.peer.Cert)
	dir := t.TempDir()
	crl := filepath.Join(dir, "crls", "conn.crl")
	writeCRL(t, crl, f.ca, f.peer)

	// The conn's own crl:, as a file and as its directory.
	for _, path := range []string{crl, filepath.Dir(crl)} {
		c := f.conn("site")
		c.CRL = path
		var cc connCerts
		if err := cc.load([]config.Conn{c}, true); err != nil {
			t.Fatal(err)
		}
		_, err := cc.VerifyCert(context.Background(), f.peer.DER(), peerID)
		wantRevoked(t, "crl: "+path, err)
	}

	// certs.crls, for a conn without crl:.
	rev, err := newRevocation(config.Certs{CRLs: []string{crl}, OCSP: "off"}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cc := connCerts{rev: rev}
	if err := cc.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	_, err = cc.VerifyCert(context.Background(), f.peer.DER(), peerID)
	wantRevoked(t, "certs.crls", err)
	// Another peer of the same CA is not on the CRL.
	other := f.ca.Issue(t, certstest.Options{Subject: peerDN})
	if _, err := cc.VerifyCert(context.Background(), other.DER(), peerID); err != nil {
		t.Errorf("a peer the CRL does not list: %v", err)
	}

	// Without either, the same peer passes.
	var plain connCerts
	if err := plain.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.VerifyCert(context.Background(), f.peer.DER(), peerID); err != nil {
		t.Errorf("no CRL: %v", err)
	}

	bad := filepath.Join(dir, "bad.crl")
	certstest.WriteFile(t, bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	c := f.conn("site")
	c.CRL = bad
	if err := (&connCerts{}).load([]config.Conn{c}, true); err == nil || !strings.Contains(err.Error(), "conn site: key crl: ") || !strings.Contains(err.Error(), bad) {
		t.Errorf("a CRL file holding a certificate: %v, want an error naming the conn, crl and the file", err)
	}
	if _, err := newRevocation(config.Certs{CRLs: []string{bad}, OCSP: "off"}, nil, nil); err == nil || !strings.Contains(err.Error(), "certs.crls: ") || !strings.Contains(err.Error(), bad) {
		t.Errorf("certs.crls with a bad file: %v", err)
	}
	if _, err := newRevocation(config.Certs{OCSP: "strict"}, nil, nil); err == nil || !strings.Contains(err.Error(), "certs.ocsp") {
		t.Errorf("certs.ocsp strict: %v", err)
	}
}

// TestConnCertsOCSP: ocsp: hard refuses a peer the responder calls
// revoked, and one whose responder does not answer; soft accepts the
// latter; a conn without ocsp: takes certs.ocsp.
func TestConnCertsOCSP(t *testing.T) {
	f := newCertFixture(t)
	responder := &certstest.OCSPResponder{CA: f.ca}
	srv := httptest.NewServer(responder)
	t.Cleanup(srv.Close)
	peer := f.ca.Issue(t, certstest.Options{Subject: peerDN, OCSPServer: []string{srv.URL}})
	gone := f.ca.Issue(t, certstest.Options{Subject: peerDN, OCSPServer: []string{"http://127.0.0.1:1/"}})
	responder.SetStatus(peer.Cert.SerialNumber, ocsp.Revoked)
	peerID := ike.CertDNIdentity(peer.Cert)
	load := func(global, own string) *connCerts {
		t.Helper()
		rev, err := newRevocation(config.Certs{OCSP: global, OCSPTimeout: 2 * time.Second}, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rev.client = srv.Client()
		c := f.conn("site")
		c.OCSP = own
		cc := &connCerts{rev: rev}
		if err := cc.load([]config.Conn{c}, true); err != nil {
			t.Fatal(err)
		}
		return cc
	}
	ctx := context.Background()
	hard := load("off", "hard")
	_, err := hard.VerifyCert(ctx, peer.DER(), peerID)
	wantRevoked(t, "ocsp: hard, revoked", err)
	if _, err := hard.VerifyCert(ctx, gone.DER(), peerID); err == nil {
		t.Error("ocsp: hard accepted a peer whose responder does not answer")
	}
	soft := load("hard", "soft") // the conn's own mode wins
	_, err = soft.VerifyCert(ctx, peer.DER(), peerID)
	wantRevoked(t, "ocsp: soft, revoked", err)
	if _, err := soft.VerifyCert(ctx, gone.DER(), peerID); err != nil {
		t.Errorf("ocsp: soft refused a peer whose responder does not answer: %v", err)
	}
	_, err = load("hard", "").VerifyCert(ctx, peer.DER(), peerID)
	wantRevoked(t, "certs.ocsp hard", err)
	n := responder.Requests()
	if _, err := load("soft", "off").VerifyCert(ctx, peer.DER(), peerID); err != nil || responder.Requests() != n {
		t.Errorf("ocsp: off: %v, %d requests; want an accept without asking", err, responder.Requests()-n)
	}
}

// TestConnCertsReloadTrust: SIGHUP takes a renewed CA bundle (and the CAs
// of our CERTREQ) and a renewed CRL for the next peer; a file that does
// not load keeps the verifier in use and is logged with the file.
func TestConnCertsReloadTrust(t *testing.T) {
	f := newCertFixture(t)
	peerID := ike.CertDNIdentity(f.peer.Cert)
	crl := filepath.Join(t.TempDir(), "conn.crl")
	writeCRL(t, crl, f.ca)
	c := f.conn("site")
	c.CRL = crl
	var cc connCerts
	if err := cc.load([]config.Conn{c}, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var e fakeCertSetter

	// The CRL renewed: the peer is now revoked.
	writeCRL(t, crl, f.ca, f.peer)
	cc.reload(&e, log)
	_, err := cc.VerifyCert(ctx, f.peer.DER(), peerID)
	wantRevoked(t, "after the CRL's renewal", err)

	// A broken CRL: the renewed one stays, and the log names the file.
	certstest.WriteFile(t, crl, []byte("not a CRL"))
	logs.Reset()
	cc.reload(&e, log)
	_, err = cc.VerifyCert(ctx, f.peer.DER(), peerID)
	wantRevoked(t, "after a broken CRL", err)
	if !strings.Contains(logs.String(), "CA bundle or CRLs not reloaded") || !strings.Contains(logs.String(), crl) || !strings.Contains(logs.String(), "conns=[site]") {
		t.Errorf("the broken CRL was not logged with its file and conn:\n%s", logs.String())
	}
	writeCRL(t, crl, f.ca)

	// The CA bundle now holds the other CA as well: its peer passes, and
	// our CERTREQ names both.
	certstest.WriteFile(t, f.ours.CAs[0], certstest.CertPEM(f.ca.Cert, f.other.Cert))
	e.authorities = nil
	cc.reload(&e, log)
	if _, err := cc.VerifyCert(ctx, f.stranger.DER(), peerID); err != nil {
		t.Errorf("a peer of the CA added to the bundle: %v", err)
	}
	if _, err := cc.VerifyCert(ctx, f.peer.DER(), peerID); err != nil {
		t.Errorf("the peer after its CRL's renewal without it: %v", err)
	}
	if len(e.authorities) != 2 {
		t.Errorf("CERTREQ names %d CAs after the reload, want 2", len(e.authorities))
	}

	// A broken bundle: the two CAs stay.
	certstest.WriteFile(t, f.ours.CAs[0], []byte("nothing here\n"))
	logs.Reset()
	e.authorities = nil
	cc.reload(&e, log)
	if _, err := cc.VerifyCert(ctx, f.stranger.DER(), peerID); err != nil {
		t.Errorf("a broken bundle replaced the one in use: %v", err)
	}
	if e.authorities != nil || !strings.Contains(logs.String(), f.ours.CAs[0]) || !strings.Contains(logs.String(), "key=ca") {
		t.Errorf("broken bundle: CERTREQ set to %x; log:\n%s", e.authorities, logs.String())
	}
}

// TestRevocationReload: certs.crls read again on SIGHUP; a bad file keeps
// the CRLs in use.
func TestRevocationReload(t *testing.T) {
	f := newCertFixture(t)
	crl := filepath.Join(t.TempDir(), "global.crl")
	writeCRL(t, crl, f.ca)
	d := &daemon{cfg: &config.Config{Certs: config.Certs{CRLs: []string{crl}, OCSP: "off"}}, log: slog.New(slog.DiscardHandler)}
	rev, err := d.certRevocation()
	if err != nil {
		t.Fatal(err)
	}
	d.conns.certs.rev = rev
	if err := d.conns.certs.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	peerID := ike.CertDNIdentity(f.peer.Cert)
	ctx := context.Background()
	if _, err := d.conns.certs.VerifyCert(ctx, f.peer.DER(), peerID); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	writeCRL(t, crl, f.ca, f.peer)
	d.reloadCerts(&fakeCertSetter{})
	_, err = d.conns.certs.VerifyCert(ctx, f.peer.DER(), peerID)
	wantRevoked(t, "certs.crls renewed", err)

	os.Remove(crl)
	logs.Reset()
	d.reloadCerts(&fakeCertSetter{})
	_, err = d.conns.certs.VerifyCert(ctx, f.peer.DER(), peerID)
	wantRevoked(t, "certs.crls removed", err)
	if !strings.Contains(logs.String(), "certs.crls not reloaded") || !strings.Contains(logs.String(), crl) {
		t.Errorf("the missing CRL was not logged:\n%s", logs.String())
	}
}

// TestOECertReload: SIGHUP takes a renewed oe.cert and oe.cert_key; a key
// that does not match keeps the pair in use.
func TestOECertReload(t *testing.T) {
	ca := certstest.NewRoot(t, "root")
	srv := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	f := certstest.WritePEM(t, t.TempDir(), "server", srv)
	quiet := slog.New(slog.DiscardHandler)
	d := &daemon{log: quiet}
	var err error
	if d.oeCert, err = loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, time.Now(), quiet); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	var e fakeCertSetter
	other := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "c.example"}})
	keyPEM, _ := os.ReadFile(f.Key)
	certstest.WriteFile(t, f.Key, certstest.KeyPEM(t, other.Key))
	d.reloadCerts(&e)
	if e.got != nil || !bytes.Equal(d.oeCert.credential().Chain[0], srv.Cert.Raw) ||
		!strings.Contains(logs.String(), "certificate not reloaded") || !strings.Contains(logs.String(), f.Cert) {
		t.Fatalf("a mismatched key was taken, or not logged with the file:\n%s", logs.String())
	}
	certstest.WriteFile(t, f.Key, keyPEM)
	renewed := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	certstest.WriteFile(t, f.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, f.Key, certstest.KeyPEM(t, renewed.Key))
	logs.Reset()
	d.reloadCerts(&e)
	if e.got == nil || !bytes.Equal(e.got.Chain[0], renewed.Cert.Raw) || e.got.ID.Type != 0 || e.got.Send != ike.SendCertAlways ||
		!bytes.Equal(d.oeCert.credential().Chain[0], renewed.Cert.Raw) || !strings.Contains(logs.String(), "serial="+renewed.Cert.SerialNumber.String()) {
		t.Fatalf("renewal not taken: %+v\n%s", e.got, logs.String())
	}
	// The daemon without oe.cert nor cert conns: nothing to reload.
	e.got = nil
	(&daemon{log: quiet}).reloadCerts(&e)
	if e.got != nil || e.authorities != nil {
		t.Errorf("a daemon without certificates set the engine's: %+v", e)
	}
}

// TestCheckRevocation: `oemeshd check` reads certs.crls and says what it
// found, and refuses a CRL that does not load; with the defaults it is
// silent.
func TestCheckRevocation(t *testing.T) {
	f := newCertFixture(t)
	dir := filepath.Join(t.TempDir(), "crls")
	writeCRL(t, filepath.Join(dir, "a.crl"), f.ca, f.peer)
	writeCRL(t, filepath.Join(dir, "b.crl"), f.other)
	var out bytes.Buffer
	if err := checkRevocation(&out, config.Certs{CRLs: []string{dir}, OCSP: "soft"}); err != nil || !strings.Contains(out.String(), "certs: ok, 2 CRLs from 1 paths, OCSP soft") {
		t.Errorf("two CRLs: %v, %q", err, out.String())
	}
	out.Reset()
	if err := checkRevocation(&out, config.Certs{OCSP: "off"}); err != nil || out.Len() != 0 {
		t.Errorf("defaults: %v, %q", err, out.String())
	}
	certstest.WriteFile(t, filepath.Join(dir, "c.crl"), []byte("junk"))
	if err := checkRevocation(&out, config.Certs{CRLs: []string{dir}, OCSP: "off"}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.crl")) {
		t.Errorf("a junk file among the CRLs: %v", err)
	}
}

// TestConnCertsReloadPrunes: a conn replaced by one without auth cert
// takes its CA out of our CERTREQ at the next SIGHUP.
func TestConnCertsReloadPrunes(t *testing.T) {
	f := newCertFixture(t)
	otherCA := certstest.WritePEM(t, t.TempDir(), "x", f.stranger).CAs[0]
	a, b := f.conn("a"), f.conn("b")
	b.CA, b.RemoteID = otherCA, "@other.example"
	var cc connCerts
	if err := cc.load([]config.Conn{a, b}, true); err != nil {
		t.Fatal(err)
	}
	if err := cc.load([]config.Conn{{Name: "b", Auth: "psk"}}, true); err != nil {
		t.Fatal(err)
	}
	var e fakeCertSetter
	cc.reload(&e, slog.New(slog.DiscardHandler))
	if len(e.authorities) != 1 || !bytes.Equal(e.authorities[0], ike.CAKeyHash(f.ca.Cert)) {
		t.Errorf("CERTREQ after conn b went: %x, want conn a's CA only", e.authorities)
	}
}
