package config

import (
	"strings"
	"testing"
)

// TestCryptoRSA: crypto.rsa defaults to auto, reads from the file and the
// environment, and a bad value names the key and the values.
func TestCryptoRSA(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || c.Crypto.RSA != "auto" || c.Summary()["crypto.rsa"] != "auto" {
		t.Fatalf("default crypto.rsa: %+v, %v; want auto", c, err)
	}
	p := write(t, "o.yaml", "crypto:\n  rsa: openssl\n")
	if c, err = Load(Options{File: p, FileRequired: true}); err != nil || c.Crypto.RSA != "openssl" {
		t.Errorf("crypto.rsa from the file: %+v, %v; want openssl", c, err)
	}
	if c, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_CRYPTO_RSA=go"}}); err != nil || c.Crypto.RSA != "go" {
		t.Errorf("crypto.rsa from the environment: %+v, %v; want go", c, err)
	}
	bad := write(t, "b.yaml", "crypto:\n  rsa: boringssl\n")
	if _, err = Load(Options{File: bad, FileRequired: true}); err == nil || !strings.Contains(err.Error(), "key crypto.rsa: must be one of auto, go, openssl") {
		t.Errorf("crypto.rsa: boringssl: %v; want the key and the values", err)
	}
}
