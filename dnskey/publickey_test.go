package dnskey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// Test keys are made once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2 *rsa.PrivateKey
	ed        ed25519.PrivateKey
	p256      *ecdsa.PrivateKey
	p384      *ecdsa.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func pkix(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func b64key(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	_, raw, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestRSAKeyRoundTrip(t *testing.T) {
	k := testKeys()
	raw, err := MarshalRSAKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != 3 || raw[1] != 1 || raw[2] != 0 || raw[3] != 1 {
		t.Fatalf("e=65537 should encode as 03 01 00 01, got % x", raw[:4])
	}
	got, err := ParseRSAKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(&k.rsa.PublicKey) {
		t.Fatal("RSA key changed in the round trip")
	}
	// A long exponent uses the 0 + 2-octet length form (RFC 3110 §2).
	long := &rsa.PublicKey{N: k.rsa.N, E: 65537}
	b, _ := MarshalRSAKey(long)
	if b[0] != 3 {
		t.Fatalf("short exponent length form expected")
	}
}

func TestParseRSAKeyErrors(t *testing.T) {
	n := testKeys().rsa.N.Bytes()
	cat := func(p ...[]byte) []byte {
		var out []byte
		for _, x := range p {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"long length truncated", []byte{0, 1}, "truncated long exponent length"},
		{"zero long length", []byte{0, 0, 0}, "exponent length is zero"},
		{"exponent overruns", []byte{5, 1, 0}, "exponent length 5 exceeds"},
		{"no modulus", []byte{3, 1, 0, 1}, "no modulus"},
		{"exponent leading zero", cat([]byte{2, 0, 3}, n), "exponent has a leading zero"},
		{"modulus leading zero", cat([]byte{1, 3, 0}, n), "modulus has a leading zero"},
		{"even exponent", cat([]byte{1, 4}, n), "not an odd number"},
		{"exponent 1", cat([]byte{1, 1}, n), "not an odd number"},
		{"huge exponent", cat([]byte{5, 1, 0, 0, 0, 1}, n), "exponent of 5 octets"},
		{"short modulus", cat([]byte{1, 3}, n[:64]), "modulus of 512 bits"},
		{"even modulus", cat([]byte{1, 3}, n[:len(n)-1], []byte{0x10}), "modulus is even"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRSAKey(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRSAKey = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// FreeS/WAN's old keys had e=3 and were written "AQ…" (RFC 4322 examples).
func TestParseRSAKeyExponent3(t *testing.T) {
	n := new(big.Int).Set(testKeys().rsa.N)
	raw := append([]byte{1, 3}, n.Bytes()...)
	if s := base64.StdEncoding.EncodeToString(raw); !strings.HasPrefix(s, "AQ") {
		t.Fatalf("e=3 keys should start AQ, got %.4s", s)
	}
	k, err := ParseRSAKey(raw)
	if err != nil || k.E != 3 || k.N.Cmp(n) != 0 {
		t.Fatalf("ParseRSAKey = %v, %v", k, err)
	}
}

func TestPublicKeyRoundTrip(t *testing.T) {
	k := testKeys()
	for _, pub := range []crypto.PublicKey{&k.rsa.PublicKey, k.ed.Public(), &k.p256.PublicKey, &k.p384.PublicKey} {
		alg, raw, err := MarshalPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePublicKey(alg, raw)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if pkix(t, got) != pkix(t, pub) {
			t.Fatalf("%s key changed in the round trip", alg)
		}
	}
	if _, err := ParsePublicKey(AlgorithmECDSA, make([]byte, 64)); err == nil {
		t.Fatal("ECDSA point (0,0) accepted")
	}
	if _, err := ParsePublicKey(AlgorithmEdDSA, make([]byte, 57)); err == nil || !strings.Contains(err.Error(), "Ed448") {
		t.Fatalf("Ed448 key: %v", err)
	}
	if _, err := ParsePublicKey(AlgorithmDSA, []byte{1}); err == nil {
		t.Fatal("DSA accepted")
	}
}
