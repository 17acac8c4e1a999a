//go:build x25519ossl && cgo

package x25519ossl

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/primitives/x25519"

	"github.com/oemesh/oemesh/ike"
)

// goPublic is ike/x25519.go's key pair: voi's fixed-base multiplication
// on the Edwards curve, mapped to the Montgomery u.
func goPublic(priv *[32]byte) (pub [32]byte) {
	p, err := x25519.X25519(priv[:], x25519.Basepoint)
	if err != nil {
		panic(err)
	}
	return [32]byte(p)
}

func random() (k [32]byte) {
	rand.Read(k[:])
	return k
}

// TestRoutesAgree: every route gives crypto/ecdh's public value and
// secret, so the benchmarks time the real computation.
func TestRoutesAgree(t *testing.T) {
	for range 100 {
		priv, peerPriv := random(), random()
		ref, _ := ecdh.X25519().NewPrivateKey(priv[:])
		peerRef, _ := ecdh.X25519().NewPrivateKey(peerPriv[:])
		peer := [32]byte(peerRef.PublicKey().Bytes())
		want, _ := ref.ECDH(peerRef.PublicKey())

		pub := goPublic(&priv)
		if !bytes.Equal(pub[:], ref.PublicKey().Bytes()) {
			t.Fatal("goPublic differs from crypto/ecdh")
		}
		s, err := respondHybrid(&priv, &pub, &peer)
		if err != nil || !bytes.Equal(s[:], want) {
			t.Fatalf("hybrid: %x %v, want %x", s, err, want)
		}
		p2, s2, err := respondOpenSSL(&priv, &peer)
		if err != nil || p2 != pub || !bytes.Equal(s2[:], want) {
			t.Fatalf("openssl: %x %x %v", p2, s2, err)
		}
		p3, s3, err := respondKeygen(&peer)
		if err != nil {
			t.Fatal(err)
		}
		mine, _ := ecdh.X25519().NewPublicKey(p3[:])
		if back, _ := peerRef.ECDH(mine); !bytes.Equal(back, s3[:]) {
			t.Fatal("keygen: the peer computes another secret")
		}
	}
	// OpenSSL refuses the all-zero secret, as RFC 7748 §6.1 asks.
	priv, zero := random(), [32]byte{}
	pub := goPublic(&priv)
	if _, err := respondHybrid(&priv, &pub, &zero); err == nil {
		t.Error("the low-order u = 0 accepted")
	}
}

// BenchmarkRespond is one responder's X25519 per handshake (a fresh key
// pair, its public value, the secret with the initiator's value) by each
// route, side by side in one run; /parallel runs GOMAXPROCS goroutines,
// as oemeshd's workers do (OpenSSL 3's method fetches take locks).
func BenchmarkRespond(b *testing.B) {
	peerPriv := random()
	peer := goPublic(&peerPriv)
	routes := []struct {
		name string
		f    func(b *testing.B)
	}{
		{"go", func(b *testing.B) {
			if _, _, err := ike.RespondKeyExchange(ike.DHCurve25519, peer[:], nil); err != nil {
				b.Fatal(err)
			}
		}},
		{"go-keypair-openssl-secret", func(b *testing.B) {
			priv := random()
			pub := goPublic(&priv)
			if _, err := respondHybrid(&priv, &pub, &peer); err != nil {
				b.Fatal(err)
			}
		}},
		{"openssl-raw-private", func(b *testing.B) {
			priv := random()
			if _, _, err := respondOpenSSL(&priv, &peer); err != nil {
				b.Fatal(err)
			}
		}},
		{"openssl-keygen", func(b *testing.B) {
			if _, _, err := respondKeygen(&peer); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, r := range routes {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				r.f(b)
			}
		})
		b.Run(r.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.f(b)
				}
			})
		})
	}
}

// BenchmarkParts times the pieces: our key pair and our ladder, and
// OpenSSL's derive on a prepared context (its floor: no import, no
// context), which is what openssl speed ecdhx25519 times.
func BenchmarkParts(b *testing.B) {
	priv, peerPriv := random(), random()
	peer := goPublic(&peerPriv)
	b.Run("go-keypair", func(b *testing.B) {
		for b.Loop() {
			goPublic(&priv)
		}
	})
	k, err := ike.GenerateDH(ike.DHCurve25519, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("go-secret", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.SharedSecret(peer[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, err := newPrepared(&priv, &peer)
	if err != nil {
		b.Fatal(err)
	}
	defer p.free()
	b.Run("openssl-derive-prepared", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.derive(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
