package certs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/internal/privkey"
)

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
	key, err := privkey.Load(keyPath)
	if err != nil {
		return nil, err
	}
	kp, err := NewKeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return kp, nil
}
