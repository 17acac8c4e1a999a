package dnskey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// pemPublicKey is the PEM type of a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7,
// as RFC 7468 §13 writes it), which `openssl pkey -pubout` prints.
const pemPublicKey = "PUBLIC KEY"

// LoadPublicKeyPEM reads a peer's public key from a PEM file holding a
// SubjectPublicKeyInfo ("PUBLIC KEY") block: a key configured out of band
// rather than found in DNS. Its errors name the file.
func LoadPublicKeyPEM(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	k, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKeyPEM decodes the first PEM block of data, which must be a
// SubjectPublicKeyInfo ("PUBLIC KEY") holding an RSA, ECDSA or Ed25519 key:
// the kinds IKE can verify a signature with.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != pemPublicKey {
		return nil, fmt.Errorf("PEM block %q, want %q (SubjectPublicKeyInfo)%s", block.Type, pemPublicKey, pemTypeHint(block.Type))
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s block: %w", pemPublicKey, err)
	}
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("%s block holds a %T, not an RSA, ECDSA or Ed25519 key", pemPublicKey, k)
}

// pemTypeHint says how to fix the PEM types people give by mistake.
func pemTypeHint(typ string) string {
	switch typ {
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return ": this is a private key; give its public half (openssl pkey -in KEY -pubout), and keep the private key secret"
	case "RSA PUBLIC KEY":
		return ": this is PKCS#1; convert it (openssl rsa -RSAPublicKey_in -in KEY -pubout)"
	case "CERTIFICATE":
		return ": this is a certificate; extract its key (openssl x509 -in CERT -pubkey -noout)"
	}
	return ""
}
