package edsig

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"io"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// stdlib is the verification rule of crypto/ed25519.
var stdlib = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// Verify reports whether sig is a valid Ed25519 signature of msg by pub,
// by crypto/ed25519.Verify's rule. A public key of the wrong length is
// not valid (crypto/ed25519 panics).
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, stdlib)
}

// Signer is an Ed25519 private key that signs through voi. It is safe
// for concurrent use.
type Signer struct {
	priv voi.PrivateKey
	pub  ed25519.PublicKey
}

// NewSigner makes a Signer of k, a well-formed crypto/ed25519 key.
func NewSigner(k ed25519.PrivateKey) (*Signer, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, errors.New("edsig: Ed25519 private key is not 64 octets")
	}
	priv := voi.PrivateKey(append([]byte(nil), k...))
	return &Signer{priv: priv, pub: ed25519.PublicKey(priv[32:])}, nil
}

// Wrap returns an Ed25519 private key as a Signer and any other key as
// it is.
func Wrap(k crypto.Signer) crypto.Signer {
	if e, ok := k.(ed25519.PrivateKey); ok {
		if s, err := NewSigner(e); err == nil {
			return s
		}
	}
	return k
}

// Public returns the public key, an ed25519.PublicKey. It is the same
// slice at every call (a handshake asks several times): do not modify
// it.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs msg as crypto/ed25519.PrivateKey.Sign does. Pure Ed25519
// (opts.HashFunc() is 0, no context) goes through voi; Ed25519ph and
// Ed25519ctx, which IKE does not use, go to crypto/ed25519.
func (s *Signer) Sign(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx := false
	if o, ok := opts.(*ed25519.Options); ok {
		ctx = o.Context != ""
	}
	if ctx || (opts != nil && opts.HashFunc() != 0) {
		return ed25519.PrivateKey(s.priv).Sign(rand, msg, opts)
	}
	return voi.Sign(s.priv, msg), nil
}
