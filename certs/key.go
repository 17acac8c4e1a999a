package certs

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

// ParsePrivateKey parses a private key: PEM "PRIVATE KEY" (PKCS#8, the
// format oemesh writes), "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY"
// (SEC1), or the same in DER. Encrypted keys are refused: the daemon has
// nobody to ask for a passphrase.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if looksPEM(data) {
		var b *pem.Block
		for {
			b, data = pem.Decode(data)
			if b == nil {
				return nil, errors.New("no PEM private key block")
			}
			if b.Type != "EC PARAMETERS" { // openssl ecparam -genkey writes it first
				break
			}
		}
		if _, enc := b.Headers["DEK-Info"]; enc || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("the key is encrypted: store it unencrypted, readable only by root")
		}
		switch b.Type {
		case "PRIVATE KEY":
			return pkcs8(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#1 RSA key: %w", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("SEC1 EC key: %w", err)
			}
			return k, nil
		}
		return nil, fmt.Errorf("PEM block is %q, not a private key", b.Type)
	}
	if k, err := pkcs8(data); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(data); err == nil {
		return k, nil
	}
	return nil, errors.New("neither PEM nor a DER PKCS#8, PKCS#1 or SEC1 private key")
}

func pkcs8(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8 key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	}
	return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign IKE AUTH payloads", k)
}

// LoadPrivateKey reads a private key file (see ParsePrivateKey).
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("private key file %s: %w", path, err)
	}
	return k, nil
}

// KeyPair is our own certificate, its intermediates and its private key:
// what we send in CERT payloads and sign AUTH with.
type KeyPair struct {
	// Chain is the end entity first, then the intermediates in the file's
	// order.
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// Leaf is the end-entity certificate.
func (kp *KeyPair) Leaf() *x509.Certificate { return kp.Chain[0] }

// DER is the chain as DER, the end entity first: CERT payloads' contents.
func (kp *KeyPair) DER() [][]byte {
	out := make([][]byte, len(kp.Chain))
	for i, c := range kp.Chain {
		out[i] = c.Raw
	}
	return out
}

// NewKeyPair checks that key is the private key of chain[0].
func NewKeyPair(chain []*x509.Certificate, key crypto.Signer) (*KeyPair, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("the private key (%T) does not belong to certificate %q (serial %s)",
			key.Public(), chain[0].Subject, serialHex(chain[0]))
	}
	return &KeyPair{Chain: chain, Key: key}, nil
}

// LoadKeyPair reads a certificate file (end entity first, then any
// intermediates) and its private key file, and checks that they belong
// together. oemeshd calls it again on SIGHUP to pick up renewals.
func LoadKeyPair(certPath, keyPath string) (*KeyPair, error) {
	chain, err := LoadCertificates(certPath)
	if err != nil {
		return nil, err
	}
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	kp, err := NewKeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return kp, nil
}
