package edsig

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"testing"
)

// testKey is a key from a fixed seed, so that failures reproduce.
func testKey(t testing.TB, i int) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	r := rand.NewChaCha8([32]byte{byte(i), 0xed})
	r.Read(seed)
	return ed25519.NewKeyFromSeed(seed)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC8032Vectors: RFC 8032 §7.1, tests 1 to 3.
func TestRFC8032Vectors(t *testing.T) {
	for _, v := range []struct{ seed, pub, msg, sig string }{
		{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
		{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
		{"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
			"6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
	} {
		k := ed25519.NewKeyFromSeed(mustHex(t, v.seed))
		if !bytes.Equal(k.Public().(ed25519.PublicKey), mustHex(t, v.pub)) {
			t.Fatalf("seed %s: public key %x, want %s", v.seed, k.Public(), v.pub)
		}
		s, err := NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		msg, want := mustHex(t, v.msg), mustHex(t, v.sig)
		got, err := s.Sign(nil, msg, crypto.Hash(0))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("message %q: signature %x, %v; want %x", v.msg, got, err, want)
		}
		if !Verify(mustHex(t, v.pub), msg, want) {
			t.Errorf("message %q: the RFC's signature does not verify", v.msg)
		}
	}
}

// TestSameAsStdlib: for keys and messages of every length up to 300
// octets, voi's signatures are crypto/ed25519's bytes, and both verify
// them; a signature over another message or by another key verifies
// under neither.
func TestSameAsStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		k := testKey(t, i)
		s, err := NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Public().(ed25519.PublicKey), k.Public().(ed25519.PublicKey)) {
			t.Fatalf("key %d: public key differs", i)
		}
		other := testKey(t, i+1000).Public().(ed25519.PublicKey)
		for n := i; n <= 300; n += 37 {
			msg := make([]byte, n)
			for j := range msg {
				msg[j] = byte(r.Uint32())
			}
			got, err := s.Sign(nil, msg, crypto.Hash(0))
			if err != nil {
				t.Fatal(err)
			}
			if want := ed25519.Sign(k, msg); !bytes.Equal(got, want) {
				t.Fatalf("key %d, %d-octet message: signature %x, crypto/ed25519 %x", i, n, got, want)
			}
			pub := k.Public().(ed25519.PublicKey)
			if !Verify(pub, msg, got) || !ed25519.Verify(pub, msg, got) {
				t.Fatalf("key %d, %d-octet message: the signature does not verify", i, n)
			}
			if Verify(other, msg, got) || ed25519.Verify(other, msg, got) {
				t.Fatalf("key %d, %d-octet message: verifies under another key", i, n)
			}
			msg = append(msg, 0)
			if Verify(pub, msg, got) {
				t.Fatalf("key %d, %d-octet message: verifies over a longer message", i, n)
			}
		}
	}
}

// order is the order L of the Ed25519 base point (RFC 8032 §5.1).
var order, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// le256 is x as 32 octets, little-endian.
func le256(x *big.Int) []byte {
	b := x.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

// TestVerifyAgreesOnForgeries: the signatures crypto/ed25519 refuses or
// takes at its edges, voi's rule decides the same way: every single-bit
// change of a valid signature, S + L (the same point equation, S not
// reduced: refused), a small-order public key with the identity as R
// and S = 0 (cofactorless: taken), non-canonical public keys, keys and
// signatures of the wrong length.
func TestVerifyAgreesOnForgeries(t *testing.T) {
	k := testKey(t, 7)
	pub := k.Public().(ed25519.PublicKey)
	msg := []byte("IKE_SA_INIT octets, nonce, prf(SK_pr, IDr)")
	sig := ed25519.Sign(k, msg)
	type tc struct {
		name          string
		pub, msg, sig []byte
	}
	var cases []tc
	for bit := range len(sig) * 8 {
		bad := bytes.Clone(sig)
		bad[bit/8] ^= 1 << (bit % 8)
		cases = append(cases, tc{"bit flip", pub, msg, bad})
	}
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	cases = append(cases, tc{"S + L", pub, msg, append(bytes.Clone(sig[:32]), le256(new(big.Int).Add(s, order))...)})
	identity := make([]byte, 32)
	identity[0] = 1
	zero := make([]byte, 32)
	cases = append(cases,
		tc{"small-order key, R identity, S 0", identity, msg, append(bytes.Clone(identity), zero...)},
		tc{"all-zero key and signature", zero, msg, make([]byte, 64)},
		tc{"non-canonical key (y = p + 1)", mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), msg, sig},
		tc{"non-canonical key with the sign bit", mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), msg, sig},
		tc{"short signature", pub, msg, sig[:63]},
		tc{"long signature", pub, msg, append(bytes.Clone(sig), 0)},
		tc{"valid", pub, msg, sig},
	)
	accepted := 0
	for _, c := range cases {
		want := ed25519.Verify(c.pub, c.msg, c.sig)
		if got := Verify(c.pub, c.msg, c.sig); got != want {
			t.Errorf("%s: Verify %v, crypto/ed25519 %v", c.name, got, want)
		}
		if want {
			accepted++
		}
	}
	if accepted != 2 { // the valid one and the small-order key's
		t.Errorf("crypto/ed25519 took %d of the cases, want 2: the cases do not test what they say", accepted)
	}
	if Verify(pub[:31], msg, sig) {
		t.Error("a 31-octet public key verifies")
	}
}

func reverse(b []byte) []byte {
	r := bytes.Clone(b)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return r
}

// TestSignerOptions: Ed25519ph and Ed25519ctx, which IKE does not use,
// still sign as crypto/ed25519 does; Wrap wraps Ed25519 keys only.
func TestSignerOptions(t *testing.T) {
	k := testKey(t, 3)
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*ed25519.Options{{}, {Context: "ctx"}, {Hash: crypto.SHA512}, {Hash: crypto.SHA512, Context: "ctx"}} {
		msg := []byte("message")
		if o.Hash != 0 {
			d := sha512.Sum512(msg) // Ed25519ph signs the digest
			msg = d[:]
		}
		got, err1 := s.Sign(nil, msg, o)
		want, err2 := k.Sign(nil, msg, o)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("options %+v: %x (%v), crypto/ed25519 %x (%v)", o, got, err1, want, err2)
		}
	}
	if _, err := NewSigner(k[:63]); err == nil {
		t.Error("a 63-octet private key makes a Signer")
	}
	if _, ok := Wrap(k).(*Signer); !ok {
		t.Errorf("Wrap(Ed25519 key) is %T", Wrap(k))
	}
	rk := &rsa.PrivateKey{}
	if Wrap(rk) != crypto.Signer(rk) {
		t.Error("Wrap changed an RSA key")
	}
}

// FuzzVerify: on any key, message and signature, Verify answers as
// crypto/ed25519.Verify does.
func FuzzVerify(f *testing.F) {
	k := testKey(f, 1)
	msg := []byte("seed")
	f.Add([]byte(k.Public().(ed25519.PublicKey)), msg, ed25519.Sign(k, msg))
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			if Verify(pub, msg, sig) {
				t.Fatalf("a %d-octet key verifies", len(pub))
			}
			return
		}
		if got, want := Verify(pub, msg, sig), ed25519.Verify(pub, msg, sig); got != want {
			t.Fatalf("Verify(%x, %x, %x) = %v, crypto/ed25519 %v", pub, msg, sig, got, want)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	k := testKey(b, 1)
	s, _ := NewSigner(k)
	msg := make([]byte, 400) // about an IKE_SA_INIT message and a prf output
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(k, msg)
		}
	})
	b.Run("voi", func(b *testing.B) {
		for b.Loop() {
			s.Sign(nil, msg, crypto.Hash(0))
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	pub := k.Public().(ed25519.PublicKey)
	msg := make([]byte, 400)
	sig := ed25519.Sign(k, msg)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("voi", func(b *testing.B) {
		for b.Loop() {
			Verify(pub, msg, sig)
		}
	})
}
