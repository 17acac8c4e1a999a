package peers

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// privateKeyPEM returns a key as PKCS#8 PEM and its public half as PKIX PEM, the formats
// swanctl reads from its private/ and pubkey/ directories.
func privateKeyPEM(k crypto.Signer) (priv, pub []byte, err error) {
	if k == nil {
		return nil, nil, errors.New("no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("encode PKCS#8: %w", err)
	}
	pub, err = publicKeyPEM(k.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pub, nil
}

func publicKeyPEM(k crypto.PublicKey) ([]byte, error) {
	if k == nil {
		return nil, errors.New("no public key")
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// RSASigKey renders an RSA public key as Libreswan's leftrsasigkey/rightrsasigkey value:
// "0s" and base64 of the RFC 3110 encoding (exponent length, exponent, modulus).
func RSASigKey(k *rsa.PublicKey) string {
	e := big.NewInt(int64(k.E)).Bytes()
	var b []byte
	if len(e) < 256 {
		b = append(b, byte(len(e)))
	} else {
		b = append(b, 0, byte(len(e)>>8), byte(len(e)))
	}
	b = append(b, e...)
	b = append(b, k.N.Bytes()...)
	return "0s" + base64.StdEncoding.EncodeToString(b)
}

// ParseRSASigKey parses Libreswan's "0s..." RFC 3110 RSA public key (as printed by
// `ipsec showhostkey --left`).
func ParseRSASigKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	b64, ok := strings.CutPrefix(s, "0s")
	if !ok {
		return nil, fmt.Errorf("rsasigkey %.20q...: want the 0s (base64) form", s)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("rsasigkey: base64: %w", err)
	}
	if len(b) < 1 {
		return nil, errors.New("rsasigkey: empty")
	}
	n, rest := int(b[0]), b[1:]
	if n == 0 {
		if len(rest) < 2 {
			return nil, errors.New("rsasigkey: truncated long exponent length")
		}
		n, rest = int(rest[0])<<8|int(rest[1]), rest[2:]
	}
	if n == 0 || n > 8 || len(rest) <= n {
		return nil, fmt.Errorf("rsasigkey: exponent length %d with %d bytes left", n, len(rest))
	}
	e := new(big.Int).SetBytes(rest[:n])
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("rsasigkey: exponent %v out of range", e)
	}
	mod := new(big.Int).SetBytes(rest[n:])
	if mod.BitLen() < 1024 {
		return nil, fmt.Errorf("rsasigkey: %d-bit modulus is too small", mod.BitLen())
	}
	return &rsa.PublicKey{N: mod, E: int(e.Int64())}, nil
}

// certPEM encodes a DER certificate as PEM.
func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
