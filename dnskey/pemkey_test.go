package dnskey

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pemOf(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func spki(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := testKeys()
	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
	}{
		{"rsa", &k.rsa.PublicKey},
		{"ed25519", k.ed.Public()},
		{"ecdsa-p256", &k.p256.PublicKey},
		{"ecdsa-p384", &k.p384.PublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := append([]byte("a comment before the block\n"), pemOf(t, "PUBLIC KEY", spki(t, tc.pub))...)
			got, err := ParsePublicKeyPEM(data)
			if err != nil {
				t.Fatal(err)
			}
			if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) {
				t.Fatalf("parsed %T differs from the key written", got)
			}
		})
	}
}

func TestParsePublicKeyPEMRefuses(t *testing.T) {
	k := testKeys()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.ed)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"empty", nil, []string{"no PEM block"}},
		{"garbage", []byte("not a key at all\n"), []string{"no PEM block"}},
		{"truncated PEM", pemOf(t, "PUBLIC KEY", spki(t, k.ed.Public()))[:40], []string{"no PEM block"}},
		{"private key given by mistake", pemOf(t, "PRIVATE KEY", pkcs8),
			[]string{`"PRIVATE KEY", want "PUBLIC KEY"`, "private key", "-pubout"}},
		{"PKCS#1 RSA public key", pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)),
			[]string{`"RSA PUBLIC KEY", want "PUBLIC KEY"`, "PKCS#1"}},
		{"certificate", pemOf(t, "CERTIFICATE", []byte{0x30, 0}), []string{`"CERTIFICATE"`, "certificate"}},
		{"other type", pemOf(t, "DH PARAMETERS", []byte{0x30, 0}), []string{`"DH PARAMETERS", want "PUBLIC KEY"`}},
		{"bad DER", pemOf(t, "PUBLIC KEY", []byte{0x30, 3, 1, 2, 3}), []string{"PUBLIC KEY block:"}},
		{"X25519 is not a signature key", pemOf(t, "PUBLIC KEY", spki(t, x25519.PublicKey())),
			[]string{"*ecdh.PublicKey", "not an RSA, ECDSA or Ed25519 key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKeyPEM(tc.data)
			if err == nil {
				t.Fatalf("accepted, returned %T", got)
			}
			if got != nil {
				t.Fatalf("returned a key (%T) with the error %v", got, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadPublicKeyPEM(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "peer.pub")
	if err := os.WriteFile(good, pemOf(t, "PUBLIC KEY", spki(t, testKeys().ed.Public())), 0o644); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadPublicKeyPEM(good); err != nil || k == nil {
		t.Fatalf("LoadPublicKeyPEM(%s) = %v, %v", good, k, err)
	}

	bad := filepath.Join(dir, "bad.pub")
	if err := os.WriteFile(bad, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKeyPEM(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "no PEM block") {
		t.Fatalf("error %v should name %s and say there is no PEM block", err, bad)
	}

	missing := filepath.Join(dir, "missing.pub")
	if _, err := LoadPublicKeyPEM(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v should name %s and wrap fs.ErrNotExist", err, missing)
	}
}

// FuzzParsePublicKeyPEM checks the PEM loader never panics and returns either
// a signature key or an error, never both and never neither.
func FuzzParsePublicKeyPEM(f *testing.F) {
	k := testKeys()
	for _, pub := range []crypto.PublicKey{&k.rsa.PublicKey, k.ed.Public(), &k.p256.PublicKey} {
		f.Add(pemOf(f, "PUBLIC KEY", spki(f, pub)))
	}
	f.Add(pemOf(f, "PRIVATE KEY", []byte{0x30, 0}))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParsePublicKeyPEM(data)
		if (got == nil) == (err == nil) {
			t.Fatalf("got %T and error %v: want exactly one", got, err)
		}
	})
}
