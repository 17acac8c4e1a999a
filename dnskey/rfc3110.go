package dnskey

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
)

// Bounds on RSA keys taken from DNS. Go's crypto/rsa refuses keys shorter
// than 1024 bits, so a shorter one is reported here, where the record is
// still known, rather than later as an opaque verification failure.
const (
	minRSABits = 1024
	maxRSABits = 16384
)

// ParseRSAKey decodes an RSA public key in the RFC 3110 §2 format used by
// IPSECKEY algorithm 2, KEY records and FreeS/WAN TXT records: a one-octet
// exponent length (or a zero octet and a two-octet length), the exponent,
// then the modulus, both big-endian without leading zero octets.
func ParseRSAKey(b []byte) (*rsa.PublicKey, error) {
	s := cryptobyte.String(b)
	var elen uint16
	var l8 uint8
	if !s.ReadUint8(&l8) {
		return nil, errors.New("RFC 3110 key: empty")
	}
	elen = uint16(l8)
	if elen == 0 {
		if !s.ReadUint16(&elen) {
			return nil, errors.New("RFC 3110 key: truncated long exponent length")
		}
		if elen == 0 {
			return nil, errors.New("RFC 3110 key: exponent length is zero")
		}
		if elen <= 255 {
			return nil, fmt.Errorf("RFC 3110 key: three-octet length form used for a %d-octet exponent", elen)
		}
	}
	var exp []byte
	if !s.ReadBytes(&exp, int(elen)) {
		return nil, fmt.Errorf("RFC 3110 key: exponent length %d exceeds the %d octets left", elen, len(s))
	}
	mod := []byte(s)
	if exp[0] == 0 {
		return nil, errors.New("RFC 3110 key: exponent has a leading zero octet")
	}
	if len(mod) == 0 {
		return nil, errors.New("RFC 3110 key: no modulus")
	}
	if mod[0] == 0 {
		return nil, errors.New("RFC 3110 key: modulus has a leading zero octet")
	}
	if len(exp) > 4 {
		return nil, fmt.Errorf("RFC 3110 key: exponent of %d octets is too large", len(exp))
	}
	var e int64
	for _, x := range exp {
		e = e<<8 | int64(x)
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, fmt.Errorf("RFC 3110 key: exponent %d is not an odd number in [3, 2^31-1]", e)
	}
	n := new(big.Int).SetBytes(mod)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RFC 3110 key: modulus of %d bits is outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RFC 3110 key: modulus is even")
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// MarshalRSAKey encodes k in the RFC 3110 §2 format.
func MarshalRSAKey(k *rsa.PublicKey) ([]byte, error) {
	if k == nil || k.N == nil || k.E <= 0 {
		return nil, errors.New("RFC 3110 key: nil or incomplete RSA key")
	}
	exp := big.NewInt(int64(k.E)).Bytes()
	var b cryptobyte.Builder
	if len(exp) <= 255 {
		b.AddUint8(uint8(len(exp)))
	} else {
		b.AddUint8(0)
		b.AddUint16(uint16(len(exp)))
	}
	b.AddBytes(exp)
	b.AddBytes(k.N.Bytes())
	return b.Bytes()
}
