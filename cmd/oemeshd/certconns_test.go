package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	cred := cc.credential()
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
			if cc.credential() != nil {
				t.Error("a failed load set a credential")
			}
		})
	}
	t.Run("two certificates", func(t *testing.T) {
		a, b := f.conn("a"), f.conn("b")
		b.Cert, b.Key = other.Cert, other.Key
		var cc connCerts
		if err := cc.load([]config.Conn{a, b}, true); err == nil || !strings.Contains(err.Error(), "conn b: key cert:") || !strings.Contains(err.Error(), "one certificate for all conns") {
			t.Errorf("got %v", err)
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
		if id := cc.credential().ID; id.Type != ike.IDFQDN || string(id.Data) != "GW.example" {
			t.Errorf("local_id SAN: credential ID %v", id)
		}
	})
}

type fakeCertSetter struct {
	got         *ike.CertCredential
	authorities [][]byte
}

func (s *fakeCertSetter) SetCertCredential(c *ike.CertCredential) error { s.got = c; return nil }

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
	if e.got != nil || !strings.Contains(logs.String(), "certificate not reloaded") || !strings.Contains(logs.String(), f.ours.Cert) {
		t.Fatalf("a bad key was taken, or not logged with the file: %s", logs.String())
	}
	certstest.WriteFile(t, f.ours.Key, keyPEM)
	// A renewal: new serial, new key.
	renewed := f.ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}, Key: certstest.RSA2048})
	certstest.WriteFile(t, f.ours.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, f.ours.Key, certstest.KeyPEM(t, renewed.Key))
	logs.Reset()
	cc.reload(&e, log)
	if e.got == nil || !bytes.Equal(e.got.Chain[0], renewed.Cert.Raw) || !strings.Contains(logs.String(), "serial="+renewed.Cert.SerialNumber.String()) {
		t.Fatalf("renewal not taken: %+v\n%s", e.got, logs.String())
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
	cfg, err := d.certConfig(ike.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials.Cert == nil || cfg.CertVerifier == nil || len(cfg.CertAuthorities) != 1 || cfg.Credentials.Cert.ID.Type != ike.IDFQDN {
		t.Errorf("engine config: %+v", cfg)
	}
	if _, err := d.certConfig(ike.EngineConfig{Credentials: ike.Credentials{Cert: &ike.CertCredential{}}}); err == nil || !strings.Contains(err.Error(), "one certificate") {
		t.Errorf("a second certificate for the engine: %v", err)
	}
	if cfg, _ := (&daemon{}).certConfig(ike.EngineConfig{}); cfg.Credentials.Cert != nil || cfg.CertVerifier != nil || cfg.CertAuthorities != nil {
		t.Errorf("without cert conns the engine got certificates: %+v", cfg)
	}
	os.Chmod(f.ours.Key, 0o640)
	if err := checkConns(&out, loadCfg(t, body)); err == nil || !strings.Contains(err.Error(), "conn site: key key: private key file "+f.ours.Key+" has mode 0640") {
		t.Errorf("group-readable key: %v", err)
	}
}
