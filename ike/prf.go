package ike

import "hash"

// hmacSum returns HMAC(key, data[0] | data[1] | ...) of RFC 2104 with
// the hash newHash makes.
//
// PRFID.Compute runs once per key: SKEYSEED, each AUTH payload's MAC and
// the shared-key pad, about seven times per side of a handshake.
// crypto/hmac.New prepares a keyed state for reuse (two hash states, both
// pads, and on Reset a marshalled copy of each), six allocations that a
// single use throws away; here one hash state and one buffer for the pad
// and the digest. The tests check it against crypto/hmac.
func hmacSum(newHash func() hash.Hash, key []byte, data ...[]byte) []byte {
	d := newHash()
	bs, size := d.BlockSize(), d.Size()
	buf := make([]byte, bs+size)
	pad, out := buf[:bs], buf[bs:bs:bs+size]
	if len(key) > bs {
		d.Write(key)
		key = d.Sum(out) // a key longer than a block is replaced by its hash
		d.Reset()
	}
	copy(pad, key)
	for i := range pad {
		pad[i] ^= 0x36 // ipad
	}
	d.Write(pad)
	for _, p := range data {
		d.Write(p)
	}
	inner := d.Sum(out)
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c // ipad to opad
	}
	d.Reset()
	d.Write(pad)
	d.Write(inner)
	return d.Sum(out) // Sum reads the state before it writes over inner
}
