package ike

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"
)

// BenchmarkRSASign: what an RSA-2048 responder pays to sign its AUTH
// payload, RSASSA-PSS (what we send with RFC 7427 signatures) against
// PKCS #1 v1.5, with the CRT values precomputed (as rsa.GenerateKey and
// x509's parsers leave a key) and without. Verifying is cheap (e = 65537)
// and not measured.
func BenchmarkRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	// A key as a PEM file gives it: x509 precomputes.
	parsed, err := x509.ParsePKCS1PrivateKey(x509.MarshalPKCS1PrivateKey(key))
	if err != nil {
		b.Fatal(err)
	}
	bare := &rsa.PrivateKey{PublicKey: key.PublicKey, D: key.D, Primes: key.Primes} // not precomputed
	digest := sha256.Sum256([]byte("the octets an AUTH payload signs"))
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	for _, c := range []struct {
		name string
		key  *rsa.PrivateKey
		opts crypto.SignerOpts
	}{
		{"pss/parsed", parsed, pss},
		{"pkcs1v15/parsed", parsed, crypto.SHA256},
		{"pss/not-precomputed", bare, pss},
		{"pkcs1v15/not-precomputed", bare, crypto.SHA256},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.key.Sign(rand.Reader, digest[:], c.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
