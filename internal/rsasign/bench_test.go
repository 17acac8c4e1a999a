package rsasign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"log/slog"
	"testing"
)

// BenchmarkRSASign signs one AUTH payload's digest with an RSA-2048 key,
// as ike's signAuth does (PSS with SHA-256 and a salt of the hash's size,
// or PKCS#1 v1.5), by crypto/rsa and by OpenSSL.
func BenchmarkRSASign(b *testing.B) {
	k := newKey(b)
	d := sha256.Sum256([]byte("signed octets"))
	for _, backend := range []Backend{Go, OpenSSL} {
		s, err := New(Config{Backend: backend, Logger: slog.New(&records{})})
		if err != nil {
			b.Fatal(err) // built without cgo, or no libcrypto
		}
		signer, err := s.Wrap(k)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name string
			opts crypto.SignerOpts
		}{
			{"pkcs1v15", crypto.SHA256},
			{"pss", &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}},
		} {
			b.Run(backend.String()+"/"+p.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := signer.Sign(rand.Reader, d[:], p.opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
