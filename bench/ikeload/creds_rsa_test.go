//go:build cgo

package main

import (
	"crypto/rsa"
	"testing"
)

// TestInitiatorRSASigner: RSA initiators sign through OpenSSL (libssl3
// is installed where this runs), so that their signatures do not take
// the cores the responder under test shares; Ed25519 keys stay as made.
func TestInitiatorRSASigner(t *testing.T) {
	c := &config{auth: authRSA, peerAuth: "null"}
	cr, err := c.credentials()
	if err != nil {
		t.Fatal(err)
	}
	if _, isGo := cr.creds.Signer.(*rsa.PrivateKey); isGo {
		t.Errorf("the RSA initiators sign with %T", cr.creds.Signer)
	}
	if _, ok := cr.creds.Signer.Public().(*rsa.PublicKey); !ok {
		t.Errorf("Public is %T", cr.creds.Signer.Public())
	}
	c = &config{auth: authEd25519, peerAuth: "null"}
	if cr, err = c.credentials(); err != nil || kindOf(cr.creds.Signer) != authEd25519 {
		t.Errorf("Ed25519: %v, %v", cr, err)
	}
}
