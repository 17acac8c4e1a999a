package peers

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStrongSwanConfigCerts: a conn that authenticates with a
// certificate writes the end entity to x509/, its intermediate and the
// remote CA to x509ca/, and names them in swanctl.conf.
func TestStrongSwanConfigCerts(t *testing.T) {
	key := mustEd25519(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := StrongSwanConfig{Conns: []StrongSwanConn{{
		Name: "c", SendCert: "always",
		Local:  StrongSwanAuth{Method: AuthPubkey, ID: "CN=a, O=x", Key: key, Certs: [][]byte{der, der}},
		Remote: StrongSwanAuth{Method: AuthPubkey, ID: "@b.example", CACerts: [][]byte{der}},
	}}}
	dir := t.TempDir()
	if err := cfg.writeFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "swanctl", "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{"send_cert = always", "certs = c-local.pem", `id = "CN=a, O=x"`, "id = @b.example"} {
		if !strings.Contains(conf, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "pubkeys") {
		t.Errorf("swanctl.conf names raw keys for certificate auth:\n%s", conf)
	}
	for _, f := range []string{"x509/c-local.pem", "x509ca/c-local-ca1.pem", "x509ca/c-remote-ca0.pem", "private/c-local.key"} {
		data, err := os.ReadFile(filepath.Join(dir, "swanctl", f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if blk, _ := pem.Decode(data); blk == nil {
			t.Errorf("%s is not PEM", f)
		}
	}
	bad := cfg
	bad.Conns = []StrongSwanConn{cfg.Conns[0]}
	bad.Conns[0].SendCert = "sometimes"
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), `send_cert "sometimes"`) {
		t.Errorf("send_cert sometimes: %v", err)
	}
	bad.Conns[0].SendCert, bad.Conns[0].Remote.CACerts = "", nil
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "needs PublicKey or CACerts") {
		t.Errorf("remote pubkey without key or CA: %v", err)
	}
}
