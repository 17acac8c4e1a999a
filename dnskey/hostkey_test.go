package dnskey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestHostKeyFile(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0) // the file must be 0600 whatever the umask
	defer syscall.Umask(old)
	for _, tc := range []struct {
		kind string
		bits int
		alg  Algorithm
	}{{HostKeyEd25519, 0, AlgorithmEdDSA}, {HostKeyRSA, 2048, AlgorithmRSA}, {HostKeyECDSA, 384, AlgorithmECDSA}} {
		path := filepath.Join(dir, tc.kind, "hostkey.pem")
		k, err := GenerateHostKey(tc.kind, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteHostKey(path, k, false); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v; want 0600", tc.kind, st.Mode(), err)
		}
		data, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----\n") {
			t.Fatalf("%s: not PKCS#8 PEM:\n%s", tc.kind, data)
		}
		back, err := LoadHostKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if alg, _, _ := MarshalPublicKey(back.Public()); alg != tc.alg || Fingerprint(back.Public()) != Fingerprint(k.Public()) {
			t.Fatalf("%s: loaded a different key", tc.kind)
		}

		other, _ := GenerateHostKey(HostKeyEd25519, 0)
		err = WriteHostKey(path, other, false)
		if err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("%s: overwrite without force: %v", tc.kind, err)
		}
		if again, _ := LoadHostKey(path); Fingerprint(again.Public()) != Fingerprint(k.Public()) {
			t.Fatalf("%s: refused overwrite still changed the key", tc.kind)
		}
		if err := WriteHostKey(path, other, true); err != nil {
			t.Fatal(err)
		}
		st, _ = os.Stat(path)
		again, err := LoadHostKey(path)
		if err != nil || st.Mode().Perm() != 0o600 || Fingerprint(again.Public()) != Fingerprint(other.Public()) {
			t.Fatalf("%s: forced overwrite: mode %v, %v", tc.kind, st.Mode(), err)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".hostkey-*")); len(leftovers) != 0 {
			t.Fatalf("temporary files left: %v", leftovers)
		}
	}
}

func TestLoadHostKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateHostKey(HostKeyEd25519, 0)
	path := filepath.Join(dir, "k.pem")
	if err := WriteHostKey(path, k, false); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadHostKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	for name, content := range map[string]string{
		"empty":   "",
		"garbage": "hello",
		"pkcs1":   "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"badder":  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := LoadHostKey(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v (want an error naming the file)", name, err)
		}
	}
	if _, err := LoadHostKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
	for _, tc := range []struct {
		kind string
		bits int
	}{{"dsa", 0}, {HostKeyRSA, 1024}, {HostKeyECDSA, 521}, {HostKeyEd25519, 448}} {
		if _, err := GenerateHostKey(tc.kind, tc.bits); err == nil {
			t.Errorf("GenerateHostKey(%s, %d) accepted", tc.kind, tc.bits)
		}
	}
}

// TestLoadHostKeySEC1: the host key is read by the shared parser
// (internal/privkey), so `openssl ecparam -genkey` output loads, and a
// curve an IPSECKEY record cannot carry is still refused.
func TestLoadHostKeySEC1(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		curve elliptic.Curve
		ok    bool
	}{{elliptic.P384(), true}, {elliptic.P224(), false}} {
		k, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tc.curve.Params().Name+".pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := LoadHostKey(path)
		switch {
		case tc.ok && (err != nil || !k.PublicKey.Equal(back.Public())):
			t.Errorf("%s: LoadHostKey = %v, %v; want the key", tc.curve.Params().Name, back, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: LoadHostKey error %v; want a refusal naming %s", tc.curve.Params().Name, err, path)
		}
	}
}
