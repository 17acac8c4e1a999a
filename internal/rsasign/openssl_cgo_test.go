//go:build cgo

package rsasign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

// newOpenSSL returns Signers that must sign with OpenSSL: CI builds with
// cgo on Debian 12 with libssl3, so a libcrypto that does not load fails
// the test rather than skipping it.
func newOpenSSL(t testing.TB) *Signers {
	t.Helper()
	s, err := New(Config{Backend: OpenSSL, Logger: slog.New(&records{})})
	if err != nil {
		t.Fatalf("OpenSSL does not load (install libssl3): %v", err)
	}
	if s.Backend() != OpenSSL || !strings.Contains(s.Detail(), "OpenSSL") {
		t.Fatalf("Backend() = %v (%s), want openssl and its version", s.Backend(), s.Detail())
	}
	return s
}

// wrapOpenSSL wraps k and checks that OpenSSL, not crypto/rsa, took it.
func wrapOpenSSL(t testing.TB, s *Signers, k *rsa.PrivateKey) *opensslSigner {
	t.Helper()
	w, err := s.Wrap(k)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := w.(*opensslSigner)
	if !ok {
		t.Fatalf("Wrap returned %T, want the OpenSSL signer", w)
	}
	if o.Public() != k.Public() {
		t.Fatalf("Public() is not the key's own *rsa.PublicKey")
	}
	return o
}

func digestOf(h crypto.Hash, msg string) []byte {
	d := h.New()
	d.Write([]byte(msg))
	return d.Sum(nil)
}

// TestOpenSSLPKCS1v15SameAsGo: PKCS#1 v1.5 is deterministic, so OpenSSL's
// signature must be crypto/rsa's, byte for byte, for every hash IKE uses.
func TestOpenSSLPKCS1v15SameAsGo(t *testing.T) {
	k := newKey(t)
	o := wrapOpenSSL(t, newOpenSSL(t), k)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := digestOf(h, "signed octets "+h.String())
		got, err := o.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		want, err := rsa.SignPKCS1v15(nil, k, h, d)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%v: OpenSSL's signature differs from crypto/rsa's", h)
		}
		if err := rsa.VerifyPKCS1v15(&k.PublicKey, h, d, got); err != nil {
			t.Errorf("%v: %v", h, err)
		}
	}
}

// TestOpenSSLPSSSaltLengths: PSS signatures verify with crypto/rsa given
// the exact salt length crypto/rsa would have used (IKE's verifier reads
// it from the AlgorithmIdentifier and checks it exactly), and no other.
func TestOpenSSLPSSSaltLengths(t *testing.T) {
	k := newKey(t)
	o := wrapOpenSSL(t, newOpenSSL(t), k)
	tests := []struct {
		name string
		opts *rsa.PSSOptions
		salt int // what crypto/rsa would use
	}{
		// ike/auth.go signAuth: SaltLength = the hash's size.
		{"ike SHA-256", &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}, 32},
		{"ike SHA-384", &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}, 48},
		{"ike SHA-512", &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512}, 64},
		{"equals hash", &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, 32},
		{"auto", &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}, 256 - 2 - 32},
		{"short salt", &rsa.PSSOptions{SaltLength: 8, Hash: crypto.SHA256}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := digestOf(tt.opts.Hash, "signed octets")
			sig, err := o.Sign(rand.Reader, d, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPSS(&k.PublicKey, tt.opts.Hash, d, sig, &rsa.PSSOptions{SaltLength: tt.salt}); err != nil {
				t.Errorf("does not verify with a salt of %d bytes: %v", tt.salt, err)
			}
			if err := rsa.VerifyPSS(&k.PublicKey, tt.opts.Hash, d, sig, &rsa.PSSOptions{SaltLength: tt.salt + 1}); err == nil {
				t.Errorf("verifies with a salt of %d bytes too", tt.salt+1)
			}
			again, err := o.Sign(rand.Reader, d, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) == string(sig) {
				t.Error("two PSS signatures are the same: the salt is not random")
			}
		})
	}
}

// TestOpenSSLSignRefuses: bad arguments are errors from the OpenSSL
// signer as from resolve.
func TestOpenSSLSignRefuses(t *testing.T) {
	o := wrapOpenSSL(t, newOpenSSL(t), newKey(t))
	d := digestOf(crypto.SHA256, "m")
	if _, err := o.Sign(rand.Reader, d, crypto.SHA384); err == nil {
		t.Error("a SHA-256 digest signed as SHA-384")
	}
	if _, err := o.Sign(rand.Reader, d, &rsa.PSSOptions{SaltLength: -7, Hash: crypto.SHA256}); err == nil {
		t.Error("a salt length of -7 accepted")
	}
	if _, err := o.Sign(rand.Reader, d, nil); !errors.Is(err, errNilOpts) {
		t.Errorf("nil opts: %v", err)
	}
}

// TestOpenSSLLeavesToGo: what OpenSSL would sign differently is signed by
// crypto/rsa: a PSS salt from the caller's random source comes out as
// crypto/rsa makes it.
func TestOpenSSLLeavesToGo(t *testing.T) {
	k := newKey(t)
	o := wrapOpenSSL(t, newOpenSSL(t), k)
	d := digestOf(crypto.SHA256, "m")
	opts := &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}
	got, err := o.Sign(zeros{}, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := rsa.SignPSS(zeros{}, k, crypto.SHA256, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("PSS with the caller's random source differs from crypto/rsa's")
	}
	raw := []byte("an unhashed payload")
	got, err = o.Sign(rand.Reader, raw, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := rsa.SignPKCS1v15(nil, k, 0, raw); string(got) != string(want) {
		t.Error("unhashed PKCS#1 v1.5 differs from crypto/rsa's")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestWrapRefusedKey: a key OpenSSL does not take signs with crypto/rsa
// under auto, after a warning, and is an error under openssl.
func TestWrapRefusedKey(t *testing.T) {
	k := newKey(t)
	// Three primes: a key OpenSSL's binding does not take here.
	bad := &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: []*big.Int{k.Primes[0], k.Primes[1], big.NewInt(1)}}
	log := &records{}
	auto, err := New(Config{Backend: Auto, Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	if auto.Backend() != OpenSSL {
		t.Fatalf("auto chose %v (%s), want openssl", auto.Backend(), auto.Detail())
	}
	got, err := auto.Wrap(bad)
	if err != nil || got != crypto.Signer(bad) {
		t.Errorf("auto: Wrap = %T, %v; want the key itself", got, err)
	}
	if n := len(log.recs); n != 2 || log.recs[1].Level != slog.LevelWarn {
		t.Errorf("auto: logged %v, want the backend line and one warning", log.recs)
	}
	if _, err := newOpenSSL(t).Wrap(bad); err == nil {
		t.Error("openssl: a key OpenSSL does not take was accepted")
	}
}
