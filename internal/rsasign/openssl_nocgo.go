//go:build !cgo

package rsasign

import (
	"crypto"
	"crypto/rsa"
	"errors"
)

// errNoCgo is why a program built without cgo signs with crypto/rsa.
var errNoCgo = errors.New("this program was built without cgo (CGO_ENABLED=0), which OpenSSL's binding needs: build it with gcc and CGO_ENABLED=1")

func loadLibcrypto() (string, error) { return "", errNoCgo }

func newOpenSSLSigner(*rsa.PrivateKey) (crypto.Signer, error) { return nil, errNoCgo }
