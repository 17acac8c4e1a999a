package ike

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/certs/certstest"
)

// testCA is the shared test PKI (certs/certstest) as the engine's tests
// use it: a root and, optionally, an intermediate that issues the
// end-entity certificates.
type testCA struct {
	t      testing.TB
	root   *x509.Certificate
	issuer *certstest.CA // the root or the intermediate
}

func newTestCA(t testing.TB, name string, intermediate bool) *testCA {
	t.Helper()
	root := certstest.NewRootSubject(t, testName(name+" Root CA"), certstest.ECDSAP256)
	ca := &testCA{t: t, root: root.Cert, issuer: root}
	if intermediate {
		ca.issuer = root.NewIntermediateSubject(t, testName(name+" Intermediate CA"))
	}
	return ca
}

// testName is the subject DN "CN=cn,O=oemesh test,C=XX".
func testName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: cn}
}

// issue makes an end-entity certificate for key with subject
// "CN=cn,O=oemesh test,C=XX" and the given subjectAltNames (a name, or an
// IP address), and returns the credential with the chain to send.
func (ca *testCA) issue(cn string, key crypto.Signer, sans ...string) *CertCredential {
	ca.t.Helper()
	o := certstest.Options{
		Subject: testName(cn),
		Signer:  key,
		EKU:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if a, err := netip.ParseAddr(s); err == nil {
			o.IPs = append(o.IPs, a)
		} else {
			o.DNSNames = append(o.DNSNames, s)
		}
	}
	return &CertCredential{Chain: ca.issuer.Issue(ca.t, o).DER(), Signer: key}
}

// testCertVerifier checks chains against roots with crypto/x509 and the
// claimed identity against the certificate: a test stand-in for the
// certs package.
type testCertVerifier struct {
	roots *x509.CertPool
	calls int
}

func newTestCertVerifier(cas ...*testCA) *testCertVerifier {
	v := &testCertVerifier{roots: x509.NewCertPool()}
	for _, ca := range cas {
		v.roots.AddCert(ca.root)
	}
	return v
}

func (v *testCertVerifier) VerifyCert(_ context.Context, chain [][]byte, peer Identity) (crypto.PublicKey, error) {
	v.calls++
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	ee, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		inter.AddCert(c)
	}
	if _, err := ee.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, err
	}
	if err := testCertNames(ee, peer); err != nil {
		return nil, err
	}
	return ee.PublicKey, nil
}

// testCertNames checks that certificate c holds identity id: as its
// subject DN (DER), or as a subjectAltName.
func testCertNames(c *x509.Certificate, id Identity) error {
	switch id.Type {
	case IDDerASN1DN:
		if !bytes.Equal(id.Data, c.RawSubject) {
			return fmt.Errorf("ID %v is not the subject %q", id, c.Subject)
		}
		return nil
	case IDFQDN:
		return c.VerifyHostname(string(id.Data))
	case IDIPv4Addr, IDIPv6Addr:
		a, _ := id.Addr()
		return c.VerifyHostname(a.String())
	}
	return fmt.Errorf("ID %v cannot be checked against a certificate", id)
}
