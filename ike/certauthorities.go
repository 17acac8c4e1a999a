package ike

import (
	"fmt"
	"slices"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// SetCertAuthorities replaces the CA key hashes our CERTREQ names
// (EngineConfig.CertAuthorities), when the CA bundles behind the
// CertVerifier were read again: exchanges from now on ask for
// certificates from these CAs. An empty list asks for a certificate from
// any CA. Each hash is CAKeyHash of a CA certificate.
func (e *Engine) SetCertAuthorities(hashes [][]byte) error {
	if err := checkCAKeyHashes(hashes); err != nil {
		return fmt.Errorf("ike: set CA key hashes: hash%w", err)
	}
	hashes = slices.Clone(hashes)
	e.certAuthorities.Store(&hashes)
	return nil
}

// checkCAKeyHashes checks that every hash has a SHA-1 hash's length; its
// error begins with the index, for the caller to say whose list it is.
func checkCAKeyHashes(hashes [][]byte) error {
	for i, h := range hashes {
		if len(h) != wire.CAKeyHashLen {
			return fmt.Errorf("[%d] has %d octets, want a %d-octet SHA-1 key hash", i, len(h), wire.CAKeyHashLen)
		}
	}
	return nil
}
