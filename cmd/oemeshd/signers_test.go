//go:build cgo

package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// signsLikeIKE signs as ike's signAuth does for an RSA key with a peer
// that supports RFC 7427 (PSS, SHA-256, a salt of the hash's size) and
// checks the signature against pub.
func signsLikeIKE(t *testing.T, k crypto.Signer, pub *rsa.PublicKey) {
	t.Helper()
	d := sha256.Sum256([]byte("signed octets"))
	sig, err := k.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Errorf("the signature does not verify: %v", err)
	}
}

func rsaDaemon(t *testing.T, backend string) *daemon {
	t.Helper()
	d := &daemon{cfg: &config.Config{Crypto: config.Crypto{RSA: backend}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.startRSA(); err != nil {
		t.Fatalf("crypto.rsa %s: %v", backend, err)
	}
	return d
}

// TestHostKeySigner: with crypto.rsa openssl (and auto, where libcrypto
// loads, as in CI) an RSA host key signs through OpenSSL; with go it is
// the *rsa.PrivateKey as read. Either way Public is the key's own.
func TestHostKeySigner(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hostkey.pem")
	if err := dnskey.WriteHostKey(path, key, false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		backend string
		goKey   bool
	}{{"openssl", false}, {"auto", false}, {"go", true}} {
		d := rsaDaemon(t, tt.backend)
		k, err := d.loadHostKey(path)
		if err != nil {
			t.Fatalf("%s: %v", tt.backend, err)
		}
		if _, isGo := k.(*rsa.PrivateKey); isGo != tt.goKey {
			t.Errorf("%s: the host key signer is %T", tt.backend, k)
		}
		pub := k.Public().(*rsa.PublicKey)
		if !pub.Equal(&key.PublicKey) {
			t.Errorf("%s: Public is not the host key's", tt.backend)
		}
		signsLikeIKE(t, newHostSigner(k), pub)
	}
}

// TestCertKeySigner: oe.cert_key (and so a cert conn's key, through the
// same engineCert) signs through OpenSSL from the start and after a
// SIGHUP reload.
func TestCertKeySigner(t *testing.T) {
	root := certstest.NewRoot(t, "root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, Key: certstest.RSA2048})
	f := certstest.WritePEM(t, t.TempDir(), "server", srv)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ec, err := loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, time.Now(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := ec.signWith(rsaDaemon(t, "openssl").rsa); err != nil {
		t.Fatal(err)
	}
	pub := srv.Key.Public().(*rsa.PublicKey)
	c := ec.credential()
	if _, isGo := c.Signer.(*rsa.PrivateKey); isGo {
		t.Errorf("oe.cert_key signs with %T", c.Signer)
	}
	signsLikeIKE(t, c.Signer, pub)
	var installed *ike.CertCredential
	ec.reload(func(c *ike.CertCredential) error { installed = c; return nil }, quiet)
	if installed == nil {
		t.Fatal("the reload installed nothing")
	}
	if _, isGo := installed.Signer.(*rsa.PrivateKey); isGo {
		t.Errorf("after a reload oe.cert_key signs with %T", installed.Signer)
	}
	signsLikeIKE(t, installed.Signer, pub)
}

// TestCheckRSA: --check-config loads libcrypto as oemeshd would and says
// which backend signs.
func TestCheckRSA(t *testing.T) {
	for _, tt := range []struct{ rsa, want string }{
		{"auto", "crypto.rsa: auto: RSA keys sign with openssl (OpenSSL "},
		{"openssl", "crypto.rsa: openssl: RSA keys sign with openssl (OpenSSL "},
		{"go", "crypto.rsa: go: RSA keys sign with go ("},
	} {
		var out strings.Builder
		if err := checkRSA(&out, &config.Config{Crypto: config.Crypto{RSA: tt.rsa}}); err != nil || !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("crypto.rsa %s: %q, %v; want %q...", tt.rsa, out.String(), err, tt.want)
		}
	}
}
