package privkey

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/certs/certstest"
)

func TestParseFormats(t *testing.T) {
	rsaKey := certstest.NewKey(t, certstest.RSA2048).(*rsa.PrivateKey)
	ecKey := certstest.NewKey(t, certstest.ECDSAP256).(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaKey)
	pkcs8 := []byte(nil)
	if b, _ := pem.Decode(certstest.KeyPEM(t, ecKey)); b != nil {
		pkcs8 = b.Bytes
	}
	enc := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	ecParams := enc("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	good := map[string][]byte{
		"PKCS#8 PEM":               certstest.KeyPEM(t, rsaKey),
		"PKCS#1 PEM":               enc("RSA PRIVATE KEY", pkcs1),
		"SEC1 PEM":                 enc("EC PRIVATE KEY", sec1),
		"SEC1 after EC PARAMETERS": append(ecParams, enc("EC PRIVATE KEY", sec1)...),
		"PKCS#8 DER":               pkcs8,
		"PKCS#1 DER":               pkcs1,
		"SEC1 DER":                 sec1,
		"PKCS#8 Ed25519 PEM":       certstest.KeyPEM(t, certstest.NewKey(t, certstest.Ed25519)),
	}
	for name, data := range good {
		if _, err := Parse(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"encrypted PKCS#8": enc("ENCRYPTED PRIVATE KEY", []byte{1}),
		"legacy encrypted": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}),
		"a certificate":    enc("CERTIFICATE", []byte{1}),
		"garbage":          []byte("not a key"),
		"empty":            nil,
	}
	for name, data := range bad {
		if _, err := Parse(data); err == nil {
			t.Errorf("%s parsed as a key", name)
		}
	}
	if _, err := Parse(bad["encrypted PKCS#8"]); !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted key error %q does not say it is encrypted", err)
	}
}

// TestLoadNamesTheFile: an operator told "no PEM block" must know which
// file to look at.
func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	if err := os.WriteFile(good, certstest.KeyPEM(t, certstest.NewKey(t, certstest.Ed25519)), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := Load(good); err != nil || k == nil {
		t.Fatalf("Load(%s) = %v, %v", good, k, err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "CERTIFICATE") {
		t.Errorf("Load(certificate) = %v, want an error naming %s and the PEM type", err, bad)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loaded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(certstest.KeyPEM(f, certstest.NewKey(f, certstest.ECDSAP256)))
	f.Add(certstest.KeyPEM(f, certstest.NewKey(f, certstest.Ed25519)))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data)
		if err == nil && k == nil {
			t.Fatal("no error and no key")
		}
	})
}
