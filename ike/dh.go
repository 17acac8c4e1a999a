package ike

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// dhCurve returns the curve of an elliptic-curve group, or nil. Key
// pairs of Curve25519 do not use it (x25519Key is cheaper); the tests
// check x25519Key against it.
func dhCurve(g DHGroup) ecdh.Curve {
	switch g {
	case DHCurve25519:
		return ecdh.X25519()
	case DHECP256:
		return ecdh.P256()
	case DHECP384:
		return ecdh.P384()
	case DHECP521:
		return ecdh.P521()
	}
	return nil
}

// DHPrivate is our half of one key exchange.
type DHPrivate struct {
	group  DHGroup
	ec     *ecdh.PrivateKey
	x25519 *x25519Key
	x      *big.Int // MODP private exponent
	y      []byte   // MODP public value, padded
}

// modpExponentBits is the MODP private exponent size: twice the 150-bit
// strength of the largest group we implement, as RFC 3526 §8 suggests.
const modpExponentBits = 512

// GenerateDH creates a key pair for group g. rnd nil means crypto/rand.
func GenerateDH(g DHGroup, rnd io.Reader) (*DHPrivate, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if g == DHCurve25519 {
		var priv [32]byte
		if _, err := io.ReadFull(rnd, priv[:]); err != nil {
			return nil, fmt.Errorf("ike: %v: generate key: %w", g, err)
		}
		x, err := newX25519Key(priv[:])
		if err != nil {
			return nil, err
		}
		return &DHPrivate{group: g, x25519: x}, nil
	}
	if c := dhCurve(g); c != nil {
		k, err := c.GenerateKey(rnd)
		if err != nil {
			return nil, fmt.Errorf("ike: %v: generate key: %w", g, err)
		}
		return &DHPrivate{group: g, ec: k}, nil
	}
	if p := modpPrime(g); p != nil {
		buf := make([]byte, modpExponentBits/8)
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("ike: %v: generate key: %w", g, err)
		}
		x := new(big.Int).SetBytes(buf)
		x.SetBit(x, modpExponentBits-1, 1)
		return newMODPPrivate(g, x), nil
	}
	if g.KEM() {
		return nil, fmt.Errorf("ike: %v is a key encapsulation method, not a DH group: use StartKeyExchange", g)
	}
	return nil, fmt.Errorf("ike: DH group %v not implemented", g)
}

func newMODPPrivate(g DHGroup, x *big.Int) *DHPrivate {
	y := new(big.Int).Exp(big.NewInt(2), x, modpPrime(g))
	return &DHPrivate{group: g, x: x, y: y.FillBytes(make([]byte, g.PublicLen()))}
}

// newDHPrivateFromBytes builds a private key from fixed bytes, for
// known-answer tests.
func newDHPrivateFromBytes(g DHGroup, priv []byte) (*DHPrivate, error) {
	if g == DHCurve25519 {
		x, err := newX25519Key(priv)
		if err != nil {
			return nil, err
		}
		return &DHPrivate{group: g, x25519: x}, nil
	}
	if c := dhCurve(g); c != nil {
		k, err := c.NewPrivateKey(priv)
		if err != nil {
			return nil, err
		}
		return &DHPrivate{group: g, ec: k}, nil
	}
	if modpPrime(g) != nil {
		return newMODPPrivate(g, new(big.Int).SetBytes(priv)), nil
	}
	return nil, fmt.Errorf("ike: DH group %v not implemented", g)
}

// Group returns the group of k.
func (k *DHPrivate) Group() DHGroup { return k.group }

// Public returns the KE payload data.
func (k *DHPrivate) Public() []byte {
	if k.x25519 != nil {
		return append([]byte(nil), k.x25519.pub[:]...)
	}
	if k.ec != nil {
		return k.ec.PublicKey().Bytes()[1:] // RFC 5903 §7: x || y without the SEC1 0x04 prefix
	}
	return append([]byte(nil), k.y...)
}

// ErrInvalidKE is wrapped when the peer's public value is unusable: wrong
// length, not on the curve, low order, or outside 1 < y < p-1.
var ErrInvalidKE = errors.New("invalid key exchange value")

// SharedSecret computes g^ir from the peer's KE data.
func (k *DHPrivate) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != k.group.PublicLen() {
		return nil, fmt.Errorf("ike: KE payload: %v: %w: %d octets, want %d", k.group, ErrInvalidKE, len(peer), k.group.PublicLen())
	}
	if k.x25519 != nil {
		return k.x25519.sharedSecret(peer)
	}
	if k.ec != nil {
		pub, err := dhCurve(k.group).NewPublicKey(append([]byte{4}, peer...))
		if err != nil {
			return nil, fmt.Errorf("ike: KE payload: %v: %w: %v", k.group, ErrInvalidKE, err)
		}
		s, err := k.ec.ECDH(pub)
		if err != nil {
			return nil, fmt.Errorf("ike: KE payload: %v: %w: %v", k.group, ErrInvalidKE, err)
		}
		return s, nil
	}
	p := modpPrime(k.group)
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, fmt.Errorf("ike: KE payload: %v: %w: public value not in 1 < y < p-1", k.group, ErrInvalidKE)
	}
	z := new(big.Int).Exp(y, k.x, p)
	return z.FillBytes(make([]byte, k.group.PublicLen())), nil
}
