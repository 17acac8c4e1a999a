package certs

import (
	"crypto/x509"
	"fmt"
)

//go:generate go tool stringer -type=Reason -linecomment

// Reason is why a certificate was refused. Its String is stable: metrics use
// it as a label and logs print it.
type Reason int

// The reasons a certificate is refused.
const (
	// Malformed: a certificate of the chain does not parse.
	Malformed Reason = iota + 1 // malformed
	// NoCertificate: the chain is empty.
	NoCertificate // no_certificate
	// Expired: a certificate of the chain is past its NotAfter.
	Expired // expired
	// NotYetValid: a certificate of the chain is before its NotBefore.
	NotYetValid // not_yet_valid
	// UnknownCA: no chain leads to a trusted root.
	UnknownCA // unknown_ca
	// BadChain: a chain exists but is invalid for another reason: a CA
	// not allowed to sign, too long a path, a bad signature.
	BadChain // bad_chain
	// NameConstraints: a CA's name constraints forbid the end entity's names.
	NameConstraints // name_constraints
	// WrongKeyUsage: the end entity's key usage has neither
	// digitalSignature nor nonRepudiation.
	WrongKeyUsage // wrong_key_usage
	// WrongEKU: the end entity's extended key usage allows no IKE use.
	WrongEKU // wrong_eku
	// Revoked: a CRL or an OCSP response revokes a certificate of the chain.
	Revoked // revoked
	// RevocationUnknown: OCSP is in hard-fail mode and no answer could be
	// had for a certificate that names a responder.
	RevocationUnknown // revocation_unknown
	// IDMismatch: the identity the peer claimed is not in its certificate.
	IDMismatch // id_mismatch
)

// VerifyError is why Verify refused a chain: the reason, the certificate it
// concerns (nil when none parsed) and the details.
type VerifyError struct {
	Reason Reason
	// Cert is the certificate the reason is about: the end entity, or the
	// intermediate that expired or was revoked.
	Cert *x509.Certificate
	// Detail says what failed, for people.
	Detail string
	// Err is the underlying error, if any (from crypto/x509 or OCSP).
	Err error
}

func (e *VerifyError) Error() string {
	what := "certificate chain"
	if e.Cert != nil {
		what = fmt.Sprintf("certificate %q (serial %s)", e.Cert.Subject.String(), serialHex(e.Cert))
	}
	msg := fmt.Sprintf("%s refused: %s: %s", what, e.Reason, e.Detail)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *VerifyError) Unwrap() error { return e.Err }

// serialHex is a certificate's serial as strongSwan and openssl print it.
func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return "none"
	}
	return fmt.Sprintf("%X", c.SerialNumber)
}

func refuse(r Reason, c *x509.Certificate, err error, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: r, Cert: c, Detail: fmt.Sprintf(format, args...), Err: err}
}

// MetricLabel is the reason as a metric label ("expired", "unknown_ca"): it
// lets the IKE engine count refusals by reason (ike.CertFailureLabeler)
// without importing this package.
func (e *VerifyError) MetricLabel() string { return e.Reason.String() }
