package dnskey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// ParsePublicKey decodes the public-key field of an IPSECKEY record for alg:
// RFC 3110 for RSA, x‖y for ECDSA P-256/P-384 (RFC 6605 §4, as RFC 8005
// uses it), and the 32 raw octets of Ed25519 (RFC 8080 §3).
func ParsePublicKey(alg Algorithm, b []byte) (crypto.PublicKey, error) {
	switch alg {
	case AlgorithmRSA:
		return ParseRSAKey(b)
	case AlgorithmECDSA:
		var c elliptic.Curve
		switch len(b) {
		case 64:
			c = elliptic.P256()
		case 96:
			c = elliptic.P384()
		default:
			return nil, fmt.Errorf("ECDSA key of %d octets is neither P-256 (64) nor P-384 (96)", len(b))
		}
		k, err := ecdsa.ParseUncompressedPublicKey(c, append([]byte{4}, b...))
		if err != nil {
			return nil, fmt.Errorf("ECDSA %s key: %w", c.Params().Name, err)
		}
		return k, nil
	case AlgorithmEdDSA:
		if len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("EdDSA key of %d octets is not Ed25519 (32); Ed448 is not supported", len(b))
		}
		return ed25519.PublicKey(append([]byte(nil), b...)), nil
	case AlgorithmNone:
		return nil, errors.New("no key (algorithm 0)")
	}
	return nil, fmt.Errorf("unsupported key algorithm %s", alg)
}

// MarshalPublicKey encodes pub as an IPSECKEY public-key field and returns
// its algorithm number.
func MarshalPublicKey(pub crypto.PublicKey) (Algorithm, []byte, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		b, err := MarshalRSAKey(k)
		return AlgorithmRSA, b, err
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return 0, nil, fmt.Errorf("ECDSA curve %s has no IPSECKEY encoding; use P-256 or P-384", k.Curve.Params().Name)
		}
		b, err := k.Bytes()
		if err != nil {
			return 0, nil, fmt.Errorf("ECDSA key: %w", err)
		}
		return AlgorithmECDSA, b[1:], nil
	case ed25519.PublicKey:
		return AlgorithmEdDSA, append([]byte(nil), k...), nil
	}
	return 0, nil, fmt.Errorf("unsupported public key type %T", pub)
}
