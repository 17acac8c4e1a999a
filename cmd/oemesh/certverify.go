package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// x509Verifier is the tools' ike.CertVerifier over crypto/x509: the
// peer's chain must lead to one of the --ca roots (through the
// intermediates the peer sent), be valid now, allow digital signatures,
// and name the identity the peer claims. The certs package will replace
// it; until then it is what `probe --auth cert` and `respond --auth cert`
// trust.
type x509Verifier struct {
	roots *x509.CertPool
	now   func() time.Time
}

func newX509Verifier(cas []*x509.Certificate) *x509Verifier {
	v := &x509Verifier{roots: x509.NewCertPool(), now: time.Now}
	for _, c := range cas {
		v.roots.AddCert(c)
	}
	return v
}

// VerifyCert implements ike.CertVerifier.
func (v *x509Verifier) VerifyCert(_ context.Context, chain [][]byte, peer ike.Identity) (crypto.PublicKey, error) {
	if len(chain) == 0 {
		return nil, errors.New("the peer sent no certificate")
	}
	ee, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("end-entity certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for i, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the chain: %w", i+2, err)
		}
		inter.AddCert(c)
	}
	// IKE has no EKU of its own that peers agree on (strongSwan and
	// Libreswan accept serverAuth, clientAuth, ipsecIKE or none), so any
	// EKU is accepted; the key usage, when present, must allow
	// signatures.
	_, err = ee.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: v.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", ee.Subject, err)
	}
	if ee.KeyUsage != 0 && ee.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("certificate %q: key usage does not allow digital signatures", ee.Subject)
	}
	if err := certNames(ee, peer); err != nil {
		return nil, fmt.Errorf("certificate %q: %w", ee.Subject, err)
	}
	return ee.PublicKey, nil
}

// certNames checks that the certificate names id: its subject for a DN,
// a subjectAltName for an FQDN (exactly, no wildcards), an address or an
// email address.
func certNames(c *x509.Certificate, id ike.Identity) error {
	switch id.Type {
	case ike.IDDerASN1DN:
		if !sameDN(id.Data, c.RawSubject) {
			return fmt.Errorf("peer ID %s is not the certificate's subject", describeDN(id.Data))
		}
		return nil
	case ike.IDFQDN:
		name := strings.TrimSuffix(string(id.Data), ".")
		if slices.ContainsFunc(c.DNSNames, func(n string) bool { return strings.EqualFold(strings.TrimSuffix(n, "."), name) }) {
			return nil
		}
		return fmt.Errorf("peer ID %q is not among its DNS names %q", name, c.DNSNames)
	case ike.IDIPv4Addr, ike.IDIPv6Addr:
		a, _ := id.Addr()
		for _, ip := range c.IPAddresses {
			if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a.Unmap() {
				return nil
			}
		}
		return fmt.Errorf("peer ID %v is not among its IP addresses %v", a, c.IPAddresses)
	case ike.IDRFC822Addr:
		if slices.ContainsFunc(c.EmailAddresses, func(e string) bool { return strings.EqualFold(e, string(id.Data)) }) {
			return nil
		}
		return fmt.Errorf("peer ID %q is not among its email addresses %q", id.Data, c.EmailAddresses)
	}
	return fmt.Errorf("peer ID %v cannot be checked against a certificate", id)
}

// sameDN compares two DER distinguished names attribute by attribute, so
// that a DN written with another string type (PrintableString or
// UTF8String) still matches.
func sameDN(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) > 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) > 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		for j := range ra[i] {
			x, y := ra[i][j], rb[i][j]
			if !x.Type.Equal(y.Type) || fmt.Sprint(x.Value) != fmt.Sprint(y.Value) {
				return false
			}
		}
	}
	return true
}

// describeDN renders a DER DN for messages.
func describeDN(der []byte) string {
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		return fmt.Sprintf("DN %x", der)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return fmt.Sprintf("%q", n.String())
}
