package peers

import (
	"context"
	"crypto/x509/pkix"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
)

// TestLibreswanImportCerts: a certificate in LibreswanConfig.Certs lands in
// the NSS db under its nickname with its private key (what leftcert=
// needs), and its intermediate comes with it; an entry without a key is
// refused before anything is written.
func TestLibreswanImportCerts(t *testing.T) {
	in := Require(t)
	root := certstest.NewRoot(t, "peers test root")
	inter := root.NewIntermediate(t, "peers test issuer")
	srv := inter.Issue(t, certstest.Options{Key: certstest.RSA2048, Subject: pkix.Name{CommonName: "l.oe.test"},
		DNSNames: []string{"l.oe.test"}, IPs: []netip.Addr{netip.MustParseAddr("198.18.0.1")}})
	cfg := LibreswanConfig{Certs: map[string]LibreswanCert{
		"l.oe.test": {PEM: certstest.CertPEM(srv.Chain...), KeyPEM: certstest.KeyPEM(t, srv.Key)},
	}}
	dir := t.TempDir()
	if err := cfg.writeFiles(dir, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := &Libreswan{Dir: dir, in: in, cfg: cfg}
	nss := filepath.Join(dir, "nss")
	if _, err := l.ipsec(ctx, "initnss", "--nssdir", nss); err != nil {
		t.Fatal(err)
	}
	if err := l.importCerts(ctx, nss); err != nil {
		t.Fatal(err)
	}
	certsOut, err := exec.CommandContext(ctx, "certutil", "-L", "-d", "sql:"+nss).CombinedOutput()
	if err != nil {
		t.Fatalf("certutil -L: %v\n%s", err, certsOut)
	}
	// u,u,u: a user certificate, one with its private key in the db.
	if !regexp.MustCompile(`(?m)^l\.oe\.test\s+u,u,u$`).Match(certsOut) {
		t.Errorf("certutil -L: no user certificate l.oe.test:\n%s", certsOut)
	}
	if !strings.Contains(string(certsOut), "peers test issuer") {
		t.Errorf("certutil -L: the intermediate did not come with the certificate:\n%s", certsOut)
	}
	keys, err := exec.CommandContext(ctx, "certutil", "-K", "-d", "sql:"+nss).CombinedOutput()
	if err != nil {
		t.Fatalf("certutil -K: %v\n%s", err, keys)
	}
	if !regexp.MustCompile(`rsa\s+[0-9a-f]{40}\s+l\.oe\.test`).Match(keys) {
		t.Errorf("certutil -K: no RSA key for l.oe.test:\n%s", keys)
	}

	bad := LibreswanConfig{Certs: map[string]LibreswanCert{"l.oe.test": {PEM: certstest.CertPEM(srv.Cert)}}}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "needs both PEM and KeyPEM") {
		t.Errorf("a certificate without its key: %v; want refused", err)
	}
	bad.Certs = map[string]LibreswanCert{"l oe": cfg.Certs["l.oe.test"]}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "nickname") {
		t.Errorf("a nickname with a space: %v; want refused", err)
	}
}
