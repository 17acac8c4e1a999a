package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/edsig"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// signsEd25519 checks that k signs as IKE's AUTH does with an Ed25519
// key (the whole message, no hash) and that crypto/ed25519 takes it.
func signsEd25519(t *testing.T, k crypto.Signer, pub ed25519.PublicKey) {
	t.Helper()
	msg := []byte("signed octets")
	sig, err := k.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Error("the signature does not verify")
	}
}

// TestEd25519KeysSignThroughEdsig: an Ed25519 host key, oe.cert_key and
// the key a reload reads sign through edsig (voi), whatever crypto.rsa
// says, and before startRSA as after.
func TestEd25519KeysSignThroughEdsig(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hostkey.pem")
	if err := dnskey.WriteHostKey(path, key, false); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, backend := range []string{"", "go"} {
		d := &daemon{cfg: &config.Config{Crypto: config.Crypto{RSA: backend}}, log: quiet}
		if backend != "" {
			if err := d.startRSA(); err != nil {
				t.Fatal(err)
			}
		}
		k, err := d.loadHostKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := k.(*edsig.Signer); !ok {
			t.Errorf("crypto.rsa %q: the Ed25519 host key signs with %T", backend, k)
		}
		signsEd25519(t, newHostSigner(k), key.Public().(ed25519.PublicKey))
	}

	root := certstest.NewRoot(t, "root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, Key: certstest.Ed25519})
	f := certstest.WritePEM(t, t.TempDir(), "server", srv)
	ec, err := loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, time.Now(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rsasign.New(rsasign.Config{Backend: rsasign.Go, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec.signWith(keys); err != nil {
		t.Fatal(err)
	}
	pub := srv.Key.Public().(ed25519.PublicKey)
	if c := ec.credential(); c == nil {
		t.Fatal("no credential")
	} else if _, ok := c.Signer.(*edsig.Signer); !ok {
		t.Errorf("oe.cert_key signs with %T", c.Signer)
	} else {
		signsEd25519(t, c.Signer, pub)
	}
	var installed *ike.CertCredential
	ec.reload(func(c *ike.CertCredential) error { installed = c; return nil }, quiet)
	if installed == nil {
		t.Fatal("the reload installed nothing")
	}
	if _, ok := installed.Signer.(*edsig.Signer); !ok {
		t.Errorf("after a reload oe.cert_key signs with %T", installed.Signer)
	}
	signsEd25519(t, installed.Signer, pub)
}
