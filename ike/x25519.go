package ike

import (
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/primitives/x25519"
)

// x25519Key is our half of an X25519 exchange (RFC 7748 §5, RFC 8031),
// computed by curve25519-voi (the library internal/edsig signs with).
//
// crypto/ecdh would cost two full Montgomery ladders per exchange: its
// NewPrivateKey and GenerateKey compute the public key by a ladder over
// the base point, and ECDH runs a second one. voi computes the public
// key as a fixed-base multiplication on the equivalent Edwards curve
// (its precomputed table, about a fifth of a ladder's cost) mapped to
// the Montgomery u-coordinate, and the shared secret by one ladder over
// the peer's u. Both are constant-time; the tests check them against
// crypto/ecdh and RFC 7748's vectors.
type x25519Key struct {
	priv [32]byte // the secret as drawn: clamped where it is used
	pub  [32]byte // u-coordinate of [clamp(priv)]B
}

// newX25519Key derives the public key of the 32-octet secret priv.
func newX25519Key(priv []byte) (*x25519Key, error) {
	if len(priv) != 32 {
		return nil, fmt.Errorf("ike: X25519 private key: %d octets, want 32", len(priv))
	}
	k := &x25519Key{}
	copy(k.priv[:], priv)
	// x25519.Basepoint itself (not a copy) selects the fixed-base path.
	pub, err := x25519.X25519(k.priv[:], x25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("ike: X25519 private key: %w", err)
	}
	copy(k.pub[:], pub)
	return k, nil
}

// sharedSecret computes X25519(priv, peer). The all-zero result, which
// a low-order peer value gives, is refused (RFC 7748 §6.1, RFC 8031 §2.1).
func (k *x25519Key) sharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != 32 {
		return nil, fmt.Errorf("ike: KE payload: %v: %w: %d octets, want 32", DHCurve25519, ErrInvalidKE, len(peer))
	}
	// voi clamps the scalar, ignores the top bit of u and takes
	// non-canonical u, as RFC 7748 §5 requires.
	out, err := x25519.X25519(k.priv[:], peer)
	if err != nil {
		return nil, fmt.Errorf("ike: KE payload: %v: %w: low-order point", DHCurve25519, ErrInvalidKE)
	}
	return out, nil
}
