package certs

import (
	"crypto/x509"
	"encoding/asn1"
)

// oidIPsecIKE is id-kp-ipsecIKE (RFC 4945 §5.1.3.12); crypto/x509 has no
// constant for it and lists it among UnknownExtKeyUsage.
var oidIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}

// checkUsage applies the RFC 4945 profile to the end entity, the way
// Libreswan does through NSS's IPsec certificate usage:
//
//   - key usage: absent, or including digitalSignature or nonRepudiation
//     (RFC 4945 §5.1.3.2): a key marked only for key encipherment must not
//     sign AUTH payloads;
//   - extended key usage: absent, or including anyExtendedKeyUsage,
//     id-kp-ipsecIKE, serverAuth or clientAuth (§5.1.3.12 names the first
//     two; NSS, and so Libreswan, also accept the TLS purposes, which is
//     what WebPKI certificates carry, and certificate OE uses those).
//     A certificate only for, say, codeSigning or emailProtection is
//     refused.
//
// strongSwan (since 5.6.3) applies the same key usage rule, but never
// checks EKU for IKE: in 5.9.8 charon reads serverAuth, clientAuth and
// ikeIntermediate only to print them. Config.AnyEKU gives its behaviour;
// key usage is checked either way.
//
// CAs' EKUs are not checked (strongSwan does not either).
func (v *Verifier) checkUsage(ee *x509.Certificate) error {
	if ee.KeyUsage != 0 && ee.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return refuse(WrongKeyUsage, ee, nil, "key usage %s allows neither digitalSignature nor nonRepudiation", keyUsageString(ee.KeyUsage))
	}
	if v.cfg.AnyEKU || !ekuPresent(ee) {
		return nil
	}
	for _, u := range ee.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageAny, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth:
			return nil
		}
	}
	for _, o := range ee.UnknownExtKeyUsage {
		if o.Equal(oidIPsecIKE) {
			return nil
		}
	}
	return refuse(WrongEKU, ee, nil, "extended key usage %s allows no IKE use (want ipsecIKE, serverAuth, clientAuth or any)", ekuString(ee))
}

func ekuPresent(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0
}
