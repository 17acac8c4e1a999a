package ike

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/primitives/x25519"
)

// RFC 7748 §6.1: both key pairs and the shared secret, from each side.
func TestX25519KeyRFC7748Section6(t *testing.T) {
	alice, err := newX25519Key(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := newX25519Key(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(alice.pub[:]); got != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Errorf("Alice's public key %s", got)
	}
	if got := hex.EncodeToString(bob.pub[:]); got != "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" {
		t.Errorf("Bob's public key %s", got)
	}
	const want = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
	for _, c := range []struct {
		name string
		k    *x25519Key
		peer []byte
	}{{"Alice", alice, bob.pub[:]}, {"Bob", bob, alice.pub[:]}} {
		s, err := c.k.sharedSecret(c.peer)
		if err != nil || hex.EncodeToString(s) != want {
			t.Errorf("%s's shared secret %x %v, want %s", c.name, s, err, want)
		}
	}
}

// RFC 7748 §5.2: the function on arbitrary u (a non-canonical one, with the
// top bit set, in the second), and its iteration 1 and 1,000 times.
func TestX25519LadderRFC7748Section5(t *testing.T) {
	for _, c := range []struct{ k, u, want string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	} {
		got, err := x25519.X25519(unhex(t, c.k), unhex(t, c.u))
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("X25519(%s, %s) = %x (%v), want %s", c.k, c.u, got, err, c.want)
		}
	}
	k := make([]byte, 32)
	k[0] = 9
	u := bytes.Clone(k)
	for i := 1; i <= 1000; i++ {
		r, err := x25519.X25519(k, u)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		u, k = k, r
		switch i {
		case 1:
			if got := hex.EncodeToString(k[:]); got != "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079" {
				t.Fatalf("after one iteration %s", got)
			}
		case 1000:
			if got := hex.EncodeToString(k[:]); got != "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51" {
				t.Fatalf("after 1,000 iterations %s", got)
			}
		}
	}
}

// The public key and the shared secret agree with crypto/ecdh's X25519
// for random secrets and random peer values (which include points on the
// twist, which X25519 accepts).
func TestX25519KeyMatchesCryptoECDH(t *testing.T) {
	curve := ecdh.X25519()
	for i := range 500 {
		priv := make([]byte, 32)
		peer := make([]byte, 32)
		rand.Read(priv)
		rand.Read(peer)
		if i%2 == 1 {
			peer[31] |= 0x80 // the top bit, ignored by both
		}
		ours, err := newX25519Key(priv)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := curve.NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.pub[:], ref.PublicKey().Bytes()) {
			t.Fatalf("secret %x: public key %x, crypto/ecdh %x", priv, ours.pub, ref.PublicKey().Bytes())
		}
		refPeer, err := curve.NewPublicKey(peer)
		if err != nil {
			t.Fatal(err)
		}
		want, refErr := ref.ECDH(refPeer)
		got, err := ours.sharedSecret(peer)
		if (err != nil) != (refErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("secret %x, peer %x: shared %x (%v), crypto/ecdh %x (%v)", priv, peer, got, err, want, refErr)
		}
	}
}

// Every low-order u (the points of order 1, 2, 4 and 8, and their
// non-canonical encodings) gives the all-zero secret, which is refused
// with ErrInvalidKE.
func TestX25519LowOrderRefused(t *testing.T) {
	k, err := newX25519Key(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		if s, err := k.sharedSecret(unhex(t, u)); !errors.Is(err, ErrInvalidKE) {
			t.Errorf("low-order u %s: secret %x, error %v; want ErrInvalidKE", u, s, err)
		}
	}
}

// BenchmarkX25519 compares our key pair and shared secret with
// crypto/ecdh's, which costs a ladder for the public key.
func BenchmarkX25519(b *testing.B) {
	peer, _ := GenerateDH(DHCurve25519, nil)
	b.Run("keygen", func(b *testing.B) {
		for b.Loop() {
			if _, err := GenerateDH(DHCurve25519, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keygen-crypto-ecdh", func(b *testing.B) {
		for b.Loop() {
			if _, err := ecdh.X25519().GenerateKey(rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("respond", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := RespondKeyExchange(DHCurve25519, peer.Public(), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("respond-crypto-ecdh", func(b *testing.B) {
		pub, _ := ecdh.X25519().NewPublicKey(peer.Public())
		for b.Loop() {
			k, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.ECDH(pub); err != nil {
				b.Fatal(err)
			}
			_ = k.PublicKey().Bytes()
		}
	})
}
