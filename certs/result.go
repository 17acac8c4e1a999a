package certs

import (
	"crypto"
	"crypto/x509"
	"net"
	"time"
)

// Result is a verified peer certificate: what the engine authenticates
// AUTH with, and what `oemesh peers` shows.
type Result struct {
	// Cert is the end entity.
	Cert *x509.Certificate
	// PublicKey is the end entity's key, for the AUTH payload.
	PublicKey crypto.PublicKey
	// Chain is the verified path: the end entity first, the trust anchor
	// last.
	Chain []*x509.Certificate
	// Subject and Issuer are the end entity's DNs as text (RFC 2253 order).
	Subject, Issuer string
	// DNSNames, IPAddresses and Emails are the end entity's SANs.
	DNSNames    []string
	IPAddresses []net.IP
	Emails      []string
	// NotAfter is when the end entity expires.
	NotAfter time.Time
}

func newResult(chain []*x509.Certificate) *Result {
	ee := chain[0]
	return &Result{
		Cert:        ee,
		PublicKey:   ee.PublicKey,
		Chain:       chain,
		Subject:     ee.Subject.String(),
		Issuer:      ee.Issuer.String(),
		DNSNames:    ee.DNSNames,
		IPAddresses: ee.IPAddresses,
		Emails:      ee.EmailAddresses,
		NotAfter:    ee.NotAfter,
	}
}
