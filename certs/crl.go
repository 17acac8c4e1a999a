package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"time"
)

// revocation is what one source says of a certificate.
type revocation int

const (
	revUnknown revocation = iota // no usable answer
	revGood
	revRevoked
)

// checkRevocation checks every certificate of the verified path but the
// trust anchor: first the configured CRLs, then, if they are silent,
// OCSP.
func (v *Verifier) checkRevocation(ctx context.Context, path []*x509.Certificate, now time.Time) error {
	for i := 0; i+1 < len(path); i++ {
		c, issuer := path[i], path[i+1]
		st, crl := v.crlStatus(c, issuer, now)
		if st == revRevoked {
			return refuse(Revoked, c, nil, "revoked by the CRL of %q (this update %s)", crl.Issuer, crl.ThisUpdate.UTC().Format(time.RFC3339))
		}
		if st == revGood || v.ocsp == nil {
			continue
		}
		if err := v.ocsp.check(ctx, c, issuer, now); err != nil {
			return err
		}
	}
	return nil
}

// crlStatus looks c up in the configured CRLs of its issuer. A CRL counts
// only if its issuer name is c's issuer and its signature verifies with
// the issuer's key. A revoked serial counts even in a CRL past its
// NextUpdate, since revocation is permanent; a CRL past its NextUpdate is
// no proof that c is good, so the answer is then unknown (and OCSP, if
// enabled, is asked).
func (v *Verifier) crlStatus(c, issuer *x509.Certificate, now time.Time) (revocation, *x509.RevocationList) {
	st := revUnknown
	for _, crl := range v.cfg.CRLs {
		if !bytes.Equal(crl.RawIssuer, c.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return revRevoked, crl
			}
		}
		if crl.NextUpdate.IsZero() || !now.After(crl.NextUpdate) {
			st = revGood
		}
	}
	return st, nil
}
