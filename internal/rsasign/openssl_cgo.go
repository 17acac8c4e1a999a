//go:build cgo

package rsasign

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// libcryptoNames are the sonames tried, newest first: OpenSSL 3 (Debian
// 12's libssl3), then 1.1.
var libcryptoNames = []string{"libcrypto.so.3", "libcrypto.so.1.1"}

// loadLibcrypto loads the first of libcryptoNames that exists. The binding
// loads libcrypto once per process: a later call returns the first one's
// result.
func loadLibcrypto() (string, error) {
	for _, name := range libcryptoNames {
		if ok, _ := openssl.CheckVersion(name); !ok {
			continue
		}
		if err := openssl.Init(name); err != nil {
			return "", fmt.Errorf("initialising %s: %w", name, err)
		}
		return openssl.VersionText(), nil
	}
	return "", fmt.Errorf("none of %v can be opened: install libssl3", libcryptoNames)
}

// opensslSigner signs with priv's OpenSSL copy, and with priv itself what
// OpenSSL cannot sign as crypto/rsa would (see resolve).
type opensslSigner struct {
	priv *rsa.PrivateKey
	key  *openssl.PrivateKeyRSA
}

func newOpenSSLSigner(priv *rsa.PrivateKey) (*opensslSigner, error) {
	if len(priv.Primes) != 2 {
		return nil, fmt.Errorf("a key of %d primes (OpenSSL takes two here)", len(priv.Primes))
	}
	priv.Precompute() // the CRT values, for OpenSSL and for crypto/rsa's fallback
	pc := priv.Precomputed
	if pc.Dp == nil || pc.Dq == nil || pc.Qinv == nil {
		return nil, errors.New("the key's CRT values cannot be computed")
	}
	k, err := openssl.NewPrivateKeyRSA(bbig.Enc(priv.N), bbig.Enc(big.NewInt(int64(priv.E))), bbig.Enc(priv.D),
		bbig.Enc(priv.Primes[0]), bbig.Enc(priv.Primes[1]), bbig.Enc(pc.Dp), bbig.Enc(pc.Dq), bbig.Enc(pc.Qinv))
	if err != nil {
		return nil, err
	}
	return &opensslSigner{priv: priv, key: k}, nil
}

// Public returns the key's *rsa.PublicKey, the one the *rsa.PrivateKey holds.
func (s *opensslSigner) Public() crypto.PublicKey { return &s.priv.PublicKey }

// Sign signs digest as (*rsa.PrivateKey).Sign would: PKCS#1 v1.5 for a
// crypto.Hash, PSS for *rsa.PSSOptions.
func (s *opensslSigner) Sign(random io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r, byGo, err := resolve(&s.priv.PublicKey, random, digest, opts)
	if err != nil {
		return nil, err
	}
	if byGo {
		return s.priv.Sign(random, digest, opts)
	}
	if r.pss {
		return openssl.SignRSAPSS(s.key, r.hash, digest, r.salt)
	}
	return openssl.SignRSAPKCS1v15(s.key, r.hash, digest)
}
