package main

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"log/slog"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/edsig"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// toolKeys gives the RSA keys probe and respond sign with the signer
// --rsa chooses, as oemeshd's crypto.rsa does. The backend starts at the
// first RSA key, so that a tool with another key never loads libcrypto
// nor logs about it.
type toolKeys struct {
	backend rsasign.Backend
	log     *slog.Logger
	signers *rsasign.Signers // nil until the first RSA key
}

// load reads a private key file and wraps it.
func (k *toolKeys) load(path string) (crypto.Signer, error) {
	key, err := dnskey.LoadHostKey(path)
	if err != nil {
		return nil, err
	}
	return k.wrap(key)
}

// wrap returns the signer for key: OpenSSL's for an RSA key when --rsa
// allows it, edsig's for an Ed25519 key, else key itself.
func (k *toolKeys) wrap(key crypto.Signer) (crypto.Signer, error) {
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return edsig.Wrap(key), nil
	}
	if k.signers == nil {
		s, err := rsasign.New(rsasign.Config{Backend: k.backend, Logger: k.log})
		if err != nil {
			return nil, fmt.Errorf("--rsa: %w", err)
		}
		k.signers = s
	}
	return k.signers.Wrap(key)
}
