//go:build cgo

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
)

// TestToolRSAKey: probe and respond sign with an RSA --key through
// OpenSSL under --rsa auto (libcrypto loads in CI) and openssl, with
// crypto/rsa under go; a bad --rsa is refused.
func TestToolRSAKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hostkey.pem")
	if err := dnskey.WriteHostKey(path, key, false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rsa   string
		goKey bool
	}{{"", false}, {"auto", false}, {"openssl", false}, {"go", true}} {
		f := ikeToolFlags{auth: "key", peerAuth: "null", keyFile: path, rsa: tt.rsa, timeout: time.Second}
		s, err := f.setup(io.Discard)
		if err != nil {
			t.Fatalf("--rsa %s: %v", tt.rsa, err)
		}
		if _, isGo := s.creds.Signer.(*rsa.PrivateKey); isGo != tt.goKey {
			t.Errorf("--rsa %s: the key signs with %T", tt.rsa, s.creds.Signer)
		}
		if !s.creds.Signer.Public().(*rsa.PublicKey).Equal(&key.PublicKey) {
			t.Errorf("--rsa %s: Public is not the key's", tt.rsa)
		}
	}
	f := ikeToolFlags{auth: "key", peerAuth: "null", keyFile: path, rsa: "boringssl", timeout: time.Second}
	if _, err := f.setup(io.Discard); err == nil {
		t.Error("--rsa boringssl accepted")
	}
}
