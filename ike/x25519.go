package ike

import (
	"fmt"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// x25519Key is our half of an X25519 exchange (RFC 7748 §5, RFC 8031).
//
// crypto/ecdh would cost two full Montgomery ladders per exchange: its
// NewPrivateKey and GenerateKey compute the public key by a ladder over
// the base point, and ECDH runs a second one. Here the public key is a
// fixed-base multiplication on the equivalent Edwards curve (precomputed
// tables, a third of a ladder's cost) mapped to its Montgomery
// u-coordinate, and the shared secret is one ladder over the peer's u.
// Both are constant-time; the tests check them against crypto/ecdh.
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
	// SetBytesWithClamping clamps as RFC 7748 §5's decodeScalar25519 and
	// reduces modulo the group order l, which changes no multiple of the
	// base point B (order l). The Edwards point [s]B maps to the
	// Montgomery point [s](u=9), the X25519 base point.
	s, err := edwards25519.NewScalar().SetBytesWithClamping(k.priv[:])
	if err != nil {
		return nil, fmt.Errorf("ike: X25519 private key: %w", err)
	}
	copy(k.pub[:], new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery())
	return k, nil
}

// sharedSecret computes X25519(priv, peer). The all-zero result, which
// a low-order peer value gives, is refused (RFC 7748 §6.1, RFC 8031 §2.1).
func (k *x25519Key) sharedSecret(peer []byte) ([]byte, error) {
	out := make([]byte, 32)
	x25519Ladder((*[32]byte)(out), &k.priv, (*[32]byte)(peer))
	var acc byte
	for _, b := range out {
		acc |= b
	}
	if acc == 0 {
		return nil, fmt.Errorf("ike: KE payload: %v: %w: low-order point", DHCurve25519, ErrInvalidKE)
	}
	return out, nil
}

// x25519Ladder sets dst to the u-coordinate of [clamp(scalar)]u by the
// Montgomery ladder of RFC 7748 §5, in constant time. field.SetBytes
// ignores the top bit of u and accepts non-canonical values, as §5
// requires.
func x25519Ladder(dst, scalar, u *[32]byte) {
	e := *scalar
	e[0] &= 248
	e[31] &= 127
	e[31] |= 64

	var x1, x2, z2, x3, z3 field.Element
	var a, aa, b, bb, c, d, da, cb, ee field.Element
	if _, err := x1.SetBytes(u[:]); err != nil {
		panic("ike: X25519: 32-octet u rejected: " + err.Error()) // only a wrong length fails
	}
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()
	swap := 0
	for t := 254; t >= 0; t-- {
		kt := int(e[t/8]>>(t%8)) & 1
		swap ^= kt
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = kt

		a.Add(&x2, &z2)
		aa.Square(&a)
		b.Subtract(&x2, &z2)
		bb.Square(&b)
		ee.Subtract(&aa, &bb)
		c.Add(&x3, &z3)
		d.Subtract(&x3, &z3)
		da.Multiply(&d, &a)
		cb.Multiply(&c, &b)
		x3.Add(&da, &cb)
		x3.Square(&x3)
		z3.Subtract(&da, &cb)
		z3.Square(&z3)
		z3.Multiply(&z3, &x1)
		x2.Multiply(&aa, &bb)
		// z2 = E·(AA + a24·E) with a24 = 121665 (RFC 7748 §5)
		z2.Mult32(&ee, 121665)
		z2.Add(&z2, &aa)
		z2.Multiply(&z2, &ee)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)
	z2.Invert(&z2) // z2 = 0 (a low-order u) inverts to 0: the result is 0
	x2.Multiply(&x2, &z2)
	copy(dst[:], x2.Bytes())
}
