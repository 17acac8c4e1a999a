package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// certFixture is a test PKI on disk: our certificate and key, the CA
// bundle, and a peer certificate from that CA and one from another.
type certFixture struct {
	ca, other *certstest.CA
	ours      certstest.Files
	peer      *certstest.Cert
	stranger  *certstest.Cert
}

var peerDN = pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: "peer.example"}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	f := &certFixture{ca: certstest.NewRoot(t, "conn CA"), other: certstest.NewRoot(t, "other CA")}
	me := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}})
	f.ours = certstest.WritePEM(t, t.TempDir(), "gw", me)
	f.peer = f.ca.Issue(t, certstest.Options{Subject: peerDN})
	f.stranger = f.other.Issue(t, certstest.Options{Subject: peerDN})
	return f
}

func (f *certFixture) conn(name string) config.Conn {
	return config.Conn{Name: name, Auth: "cert", Cert: f.ours.Cert, Key: f.ours.Key, CA: f.ours.CAs[0],
		LocalID: "%fromcert", RemoteID: "C=XX, O=oemesh test, CN=peer.example"}
}

func dnID(t *testing.T, s string) ike.Identity {
	t.Helper()
	id, err := certDNIdentity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestConnCertsVerify(t *testing.T) {
	f := newCertFixture(t)
	var cc connCerts
	if err := cc.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	cred := cc.credentialFor("site")
	if cred == nil || !bytes.Equal(cred.Chain[0], readPEMCert(t, f.ours.Cert)) || cred.ID.Type != 0 || cred.Send != ike.SendCertAlways {
		t.Fatalf("credential: %+v", cred)
	}
	if a := cc.authorities(); len(a) != 1 || !bytes.Equal(a[0], ike.CAKeyHash(f.ca.Cert)) {
		t.Errorf("CERTREQ authorities %x, want the conn CA's key hash", a)
	}
	peerID := ike.Identity{Type: ike.IDDerASN1DN, Data: f.peer.Cert.RawSubject}
	if _, err := cc.VerifyCert(context.Background(), f.peer.DER(), peerID); err != nil {
		t.Errorf("a peer certificate from the conn's CA with its remote_id: %v", err)
	}
	// The same name from another CA: refused, with the reason.
	_, err := cc.VerifyCert(context.Background(), f.stranger.DER(), peerID)
	var ve *certs.VerifyError
	if !errors.As(err, &ve) || ve.Reason != certs.UnknownCA || !strings.Contains(err.Error(), f.ours.CAs[0]) {
		t.Errorf("a certificate from another CA: %v, want an unknown_ca refusal naming the bundle", err)
	}
	// A peer claiming an identity no cert conn names: refused before any
	// chain is built.
	if _, err := cc.VerifyCert(context.Background(), f.peer.DER(), ike.FQDNIdentity("else.example")); err == nil || !strings.Contains(err.Error(), "no conn with auth cert") {
		t.Errorf("a peer no conn names: %v", err)
	}
	// The conn replaced by one without auth cert: its CA no longer
	// vouches for anyone.
	if err := cc.load([]config.Conn{{Name: "site", Auth: "psk"}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.VerifyCert(context.Background(), f.peer.DER(), peerID); err == nil {
		t.Error("a conn replaced by a PSK conn still accepts certificates")
	}
}

// TestConnCertsPerConnCA: each conn's CA vouches only for the peers that
// conn names.
func TestConnCertsPerConnCA(t *testing.T) {
	f := newCertFixture(t)
	otherCA := certstest.WritePEM(t, t.TempDir(), "x", f.stranger).CAs[0]
	a := f.conn("a")
	b := f.conn("b")
	b.CA, b.RemoteID = otherCA, "@other.example"
	var cc connCerts
	if err := cc.load([]config.Conn{a, b}, true); err != nil {
		t.Fatal(err)
	}
	if n := len(cc.authorities()); n != 2 {
		t.Errorf("%d CERTREQ authorities, want 2", n)
	}
	peerID := dnID(t, "C=XX, O=oemesh test, CN=peer.example")
	if _, err := cc.VerifyCert(context.Background(), f.stranger.DER(), peerID); err == nil {
		t.Error("conn b's CA vouched for conn a's peer")
	}
}

func TestConnCertsLoadErrors(t *testing.T) {
	f := newCertFixture(t)
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	data, _ := os.ReadFile(f.ours.Key)
	os.WriteFile(loose, data, 0o644)
	wrongKey := filepath.Join(dir, "wrong.key")
	certstest.WriteFile(t, wrongKey, certstest.KeyPEM(t, f.peer.Key))
	notCA := filepath.Join(dir, "empty.pem")
	os.WriteFile(notCA, []byte("nothing here\n"), 0o644)
	other := certstest.WritePEM(t, t.TempDir(), "other", f.peer)
	for _, tc := range []struct {
		name string
		mod  func(c *config.Conn)
		want string
	}{
		{"key readable by others", func(c *config.Conn) { c.Key = loose }, "conn site: key key: private key file " + loose + " has mode 0644"},
		{"key of another certificate", func(c *config.Conn) { c.Key = wrongKey }, "conn site: key cert: " + f.ours.Cert + " and " + wrongKey},
		{"no certificate file", func(c *config.Conn) { c.Cert = filepath.Join(dir, "none.crt") }, "conn site: key cert: certificate file"},
		{"CA bundle without certificates", func(c *config.Conn) { c.CA = notCA }, "conn site: key ca:"},
		{"bad DN", func(c *config.Conn) { c.RemoteID = "XYZ=1, CN=peer" }, "conn site: key remote_id:"},
		{"SAN not in the certificate", func(c *config.Conn) { c.LocalID = "@other.example" }, "conn site: key local_id: @other.example is not a subjectAltName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.conn("site")
			tc.mod(&c)
			var cc connCerts
			err := cc.load([]config.Conn{c}, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if len(cc.credentials()) != 0 || cc.credentialFor("site") != nil {
				t.Error("a failed load set a credential")
			}
		})
	}
	t.Run("a bad certificate among good ones", func(t *testing.T) {
		a, b := f.conn("a"), f.conn("b")
		b.Cert = other.Cert // with conn a's key
		var cc connCerts
		if err := cc.load([]config.Conn{a, b}, true); err == nil || !strings.Contains(err.Error(), "conn b: key cert:") || strings.Contains(err.Error(), "conn a") {
			t.Errorf("got %v, want conn b's key refused and conn a not blamed", err)
		}
		if len(cc.credentials()) != 0 {
			t.Error("a failed load set a credential")
		}
	})
	t.Run("engine without a certificate", func(t *testing.T) {
		var cc connCerts
		if err := cc.load([]config.Conn{f.conn("late")}, false); err == nil || !strings.Contains(err.Error(), "restart") {
			t.Errorf("a cert conn added to an engine without certificates: %v", err)
		}
	})
	t.Run("SAN local_id", func(t *testing.T) {
		c := f.conn("site")
		c.LocalID = "@GW.example"
		var cc connCerts
		if err := cc.load([]config.Conn{c}, true); err != nil {
			t.Fatal(err)
		}
		if id := cc.credentialFor("site").ID; id.Type != ike.IDFQDN || string(id.Data) != "GW.example" {
			t.Errorf("local_id SAN: credential ID %v", id)
		}
	})
}

type fakeCertSetter struct {
	got         *ike.CertCredential   // the default, as SetCertCredential set it
	more        []*ike.CertCredential // the others, as SetCertCredentials set them
	sets        int                   // calls of SetCertCredentials
	authorities [][]byte
}

func (s *fakeCertSetter) SetCertCredential(c *ike.CertCredential) error { s.got = c; return nil }

func (s *fakeCertSetter) SetCertCredentials(cs []*ike.CertCredential) error {
	s.more = cs
	s.sets++
	return nil
}

func (s *fakeCertSetter) SetCertAuthorities(h [][]byte) error { s.authorities = h; return nil }

func TestConnCertsReload(t *testing.T) {
	f := newCertFixture(t)
	var cc connCerts
	if err := cc.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// A broken renewal (the key of another certificate): the old pair stays.
	keyPEM, _ := os.ReadFile(f.ours.Key)
	certstest.WriteFile(t, f.ours.Key, certstest.KeyPEM(t, f.peer.Key))
	var e fakeCertSetter
	cc.reload(&e, log)
	if e.more != nil || !strings.Contains(logs.String(), "certificate not reloaded") || !strings.Contains(logs.String(), f.ours.Cert) {
		t.Fatalf("a bad key was taken, or not logged with the file: %s", logs.String())
	}
	certstest.WriteFile(t, f.ours.Key, keyPEM)
	// A renewal: new serial, new key.
	renewed := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}, Key: certstest.RSA2048})
	certstest.WriteFile(t, f.ours.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, f.ours.Key, certstest.KeyPEM(t, renewed.Key))
	logs.Reset()
	cc.reload(&e, log)
	if len(e.more) != 1 || !bytes.Equal(e.more[0].Chain[0], renewed.Cert.Raw) || !strings.Contains(logs.String(), "serial="+renewed.Cert.SerialNumber.String()) {
		t.Fatalf("renewal not taken: %+v\n%s", e.more, logs.String())
	}
	if e.got != nil {
		t.Error("a conn's certificate was made the engine's default")
	}
}

func readPEMCert(t *testing.T, path string) []byte {
	t.Helper()
	cs, err := certs.LoadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return cs[0].Raw
}

// TestCheckConnsCert: --check-config takes a cert conn with a DN
// remote_id and a SAN local_id that differs from the daemon's identity;
// the conn reaches oe with AuthKindCert and the DN, and the engine gets
// the certificate, the verifier and the CA hash.
func TestCheckConnsCert(t *testing.T) {
	f := newCertFixture(t)
	body := `identity: 192.0.2.1
conns:
  - name: site
    local: 192.0.2.1
    remote: 198.51.100.1
    auth: cert
    cert: ` + f.ours.Cert + `
    key: ` + f.ours.Key + `
    ca: ` + f.ours.CAs[0] + `
    local_id: "@gw.example"
    remote_id: 'C=XX, O=oemesh test, CN=peer.example'
`
	var out bytes.Buffer
	if err := checkConns(&out, loadCfg(t, body)); err != nil || !strings.Contains(out.String(), "conns: 1 ok") {
		t.Fatalf("cert conn: %v %q", err, out.String())
	}
	d := &daemon{cfg: loadCfg(t, body), log: slog.New(slog.DiscardHandler)}
	conns, err := d.readConns()
	if err != nil {
		t.Fatal(err)
	}
	d.startConns = conns
	oc, err := d.toOE(conns[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if oc.Auth != ike.AuthKindCert || oc.RemoteID.Type != ike.IDDerASN1DN || !ike.SameIdentity(oc.RemoteID, ike.CertDNIdentity(f.peer.Cert)) {
		t.Errorf("oe conn: auth %v, remote ID %v", oc.Auth, oc.RemoteID)
	}
	cfg := d.certConfig(ike.EngineConfig{})
	if len(cfg.Credentials.Certs) != 1 || cfg.CertVerifier == nil || len(cfg.CertAuthorities) != 1 || cfg.Credentials.Certs[0].ID.Type != ike.IDFQDN {
		t.Errorf("engine config: %+v", cfg)
	}
	if cfg.Credentials.Cert != nil {
		t.Error("the conn's certificate became the engine's default, which NULL OE clients get")
	}
	// oe.cert beside the cert conns: it stays the default, the conn's is
	// one of the others.
	oeCred := &ike.CertCredential{}
	if cfg := d.certConfig(ike.EngineConfig{Credentials: ike.Credentials{Cert: oeCred}}); cfg.Credentials.Cert != oeCred || len(cfg.Credentials.Certs) != 1 {
		t.Errorf("oe.cert and a cert conn: default %p (want oe.cert's %p), %d others (want 1)", cfg.Credentials.Cert, oeCred, len(cfg.Credentials.Certs))
	}
	if cfg := (&daemon{}).certConfig(ike.EngineConfig{}); cfg.Credentials.Cert != nil || cfg.Credentials.Certs != nil || cfg.CertVerifier != nil || cfg.CertAuthorities != nil {
		t.Errorf("without cert conns the engine got certificates: %+v", cfg)
	}
	os.Chmod(f.ours.Key, 0o640)
	if err := checkConns(&out, loadCfg(t, body)); err == nil || !strings.Contains(err.Error(), "conn site: key key: private key file "+f.ours.Key+" has mode 0640") {
		t.Errorf("group-readable key: %v", err)
	}
}

// TestConnCertsSeveral: two cert conns, each with its own certificate
// from its own CA; each initiates with its own, the engine gets both, and
// a SIGHUP reloads each on its own.
func TestConnCertsSeveral(t *testing.T) {
	f := newCertFixture(t)
	otherCA := certstest.NewRoot(t, "second CA")
	second := otherCA.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw2.example"}, DNSNames: []string{"gw2.example"}})
	sf := certstest.WritePEM(t, t.TempDir(), "gw2", second)
	a, b := f.conn("a"), f.conn("b")
	b.Cert, b.Key, b.RemoteID = sf.Cert, sf.Key, "@peer2.example"
	shared := f.conn("a2") // a's files: one credential for both
	shared.RemoteID = "@peer3.example"
	var cc connCerts
	if err := cc.load([]config.Conn{a, b, shared}, true); err != nil {
		t.Fatal(err)
	}
	ca, cb := cc.credentialFor("a"), cc.credentialFor("b")
	if ca == nil || cb == nil || !bytes.Equal(ca.Chain[0], readPEMCert(t, f.ours.Cert)) || !bytes.Equal(cb.Chain[0], second.Cert.Raw) {
		t.Fatalf("conn a's credential %v, conn b's %v: want each its own certificate", ca, cb)
	}
	if cc.credentialFor("a2") != ca {
		t.Error("two conns with the same files got two credentials")
	}
	if cc.credentialFor("nosuch") != nil {
		t.Error("a conn that is not a cert conn has a certificate")
	}
	creds := cc.credentials()
	if len(creds) != 2 || !slices.Contains(creds, ca) || !slices.Contains(creds, cb) {
		t.Fatalf("engine credentials %v, want conn a's and conn b's", creds)
	}
	if again := cc.credentials(); !slices.Equal(creds, again) {
		t.Error("the engine's credentials change order from call to call")
	}

	// SIGHUP: conn b's renewal is broken (another certificate's key), conn
	// a's is good. a's is taken, b keeps the one in use.
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	renewed := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}})
	certstest.WriteFile(t, f.ours.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, f.ours.Key, certstest.KeyPEM(t, renewed.Key))
	certstest.WriteFile(t, sf.Key, certstest.KeyPEM(t, f.peer.Key))
	var e fakeCertSetter
	cc.reload(&e, log)
	if e.sets != 1 || len(e.more) != 2 || !slices.ContainsFunc(e.more, func(c *ike.CertCredential) bool { return bytes.Equal(c.Chain[0], renewed.Cert.Raw) }) ||
		!slices.Contains(e.more, cb) {
		t.Fatalf("SIGHUP gave the engine %d times %v; want once, conn a's renewal beside conn b's certificate in use", e.sets, e.more)
	}
	if !bytes.Equal(cc.credentialFor("a").Chain[0], renewed.Cert.Raw) || !bytes.Equal(cc.credentialFor("a2").Chain[0], renewed.Cert.Raw) || cc.credentialFor("b") != cb {
		t.Error("after SIGHUP the conns do not initiate with conn a's renewal and conn b's old certificate")
	}
	if !strings.Contains(logs.String(), "certificate not reloaded") || !strings.Contains(logs.String(), sf.Cert) {
		t.Errorf("conn b's bad renewal was not logged with its file:\n%s", logs.String())
	}
	if e.got != nil {
		t.Error("a conn's certificate was made the engine's default")
	}

	// conn b replaced by a PSK conn: its certificate is gone from the
	// engine's.
	if err := cc.load([]config.Conn{{Name: "b", Auth: "psk"}}, true); err != nil {
		t.Fatal(err)
	}
	if got := cc.credentials(); len(got) != 1 || !bytes.Equal(got[0].Chain[0], renewed.Cert.Raw) || cc.credentialFor("b") != nil {
		t.Errorf("after conn b became PSK the engine has %d certificates, conn b %v", len(got), cc.credentialFor("b"))
	}
}

// TestReloadCertsOEAndConns: with oe.cert and a cert conn, SIGHUP renews
// each where it belongs: oe.cert as the default, the conn's among the
// others; a bad oe.cert holds back only itself.
func TestReloadCertsOEAndConns(t *testing.T) {
	f := newCertFixture(t)
	root := certstest.NewRoot(t, "oe root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	of := certstest.WritePEM(t, t.TempDir(), "server", srv)
	quiet := slog.New(slog.DiscardHandler)
	d := &daemon{log: quiet}
	var err error
	if d.oeCert, err = loadOECert(config.OE{Cert: of.Cert, CertKey: of.Key}, time.Now(), quiet); err != nil {
		t.Fatal(err)
	}
	if err := d.conns.certs.load([]config.Conn{f.conn("site")}, true); err != nil {
		t.Fatal(err)
	}
	cfg := d.certConfig(ike.EngineConfig{Credentials: ike.Credentials{Cert: d.oeCert.credential()}})
	if !bytes.Equal(cfg.Credentials.Cert.Chain[0], srv.Cert.Raw) || len(cfg.Credentials.Certs) != 1 {
		t.Fatalf("engine: default %v, others %v", cfg.Credentials.Cert, cfg.Credentials.Certs)
	}
	certstest.WriteFile(t, of.Key, certstest.KeyPEM(t, f.peer.Key)) // oe.cert broken
	renewed := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}})
	certstest.WriteFile(t, f.ours.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, f.ours.Key, certstest.KeyPEM(t, renewed.Key))
	var e fakeCertSetter
	d.reloadCerts(&e)
	if e.got != nil || !bytes.Equal(d.oeCert.credential().Chain[0], srv.Cert.Raw) {
		t.Error("a broken oe.cert renewal was taken")
	}
	if len(e.more) != 1 || !bytes.Equal(e.more[0].Chain[0], renewed.Cert.Raw) {
		t.Errorf("the conn's renewal was held back by oe.cert's: %v", e.more)
	}
}

// TestCertHoldsID: the engine's CertNameMatch finds a peer's IDr in our
// certificate as the verifier finds a claimed ID: the subject DN however
// it is written, a SAN, and nothing else.
func TestCertHoldsID(t *testing.T) {
	f := newCertFixture(t)
	leaf := f.peer.Cert
	gw := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}}).Cert
	for _, tc := range []struct {
		cert *x509.Certificate
		id   ike.Identity
		want bool
	}{
		{leaf, ike.CertDNIdentity(leaf), true},
		{leaf, dnID(t, "C=XX, O=oemesh test, CN=peer.example"), true},
		{leaf, dnID(t, "c=XX,o=oemesh test,cn=peer.example"), true},
		{leaf, dnID(t, "C=XX, O=oemesh test, CN=other.example"), false},
		{gw, ike.FQDNIdentity("GW.example."), true},
		{gw, ike.FQDNIdentity("peer.example"), false},
		{gw, ike.AddrIdentity(netip.MustParseAddr("192.0.2.1")), false},
	} {
		if got := certHoldsID(tc.cert, tc.id); got != tc.want {
			t.Errorf("certificate %q holds %v: %v, want %v", tc.cert.Subject, tc.id, got, tc.want)
		}
	}
}
