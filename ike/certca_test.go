package ike

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCA is a certificate authority made in the test: a root and,
// optionally, an intermediate that issues the end-entity certificates.
type testCA struct {
	t         testing.TB
	root      *x509.Certificate
	rootKey   crypto.Signer
	issuer    *x509.Certificate // the root or the intermediate
	issuerKey crypto.Signer
	inter     []byte // DER of the intermediate, nil without one
	serial    int64
	notBefore time.Time
	notAfter  time.Time
}

func newTestCA(t testing.TB, name string, intermediate bool) *testCA {
	t.Helper()
	ca := &testCA{t: t, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(24 * time.Hour)}
	ca.rootKey = signers(t)["p256"]
	ca.root = ca.sign(&x509.Certificate{
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: name + " Root CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, ca.rootKey.Public(), nil, ca.rootKey)
	ca.issuer, ca.issuerKey = ca.root, ca.rootKey
	if intermediate {
		key := newEd25519(t)
		ca.issuer = ca.sign(&x509.Certificate{
			Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: name + " Intermediate CA"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}, key.Public(), ca.root, ca.rootKey)
		ca.issuerKey, ca.inter = key, ca.issuer.Raw
	}
	return ca
}

func (ca *testCA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
	ca.t.Helper()
	ca.serial++
	tmpl.SerialNumber = big.NewInt(ca.serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = ca.notBefore, ca.notAfter
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		ca.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return c
}

// issue makes an end-entity certificate for key with subject CN cn and
// the given subjectAltNames (a name, or an IP address), and returns the
// credential with the chain to send.
func (ca *testCA) issue(cn string, key crypto.Signer, sans ...string) *CertCredential {
	ca.t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	ee := ca.sign(tmpl, key.Public(), ca.issuer, ca.issuerKey)
	chain := [][]byte{ee.Raw}
	if ca.inter != nil {
		chain = append(chain, ca.inter)
	}
	return &CertCredential{Chain: chain, Signer: key}
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
	switch peer.Type {
	case IDDerASN1DN:
		if !bytes.Equal(peer.Data, ee.RawSubject) {
			return nil, fmt.Errorf("ID %v is not the subject %q", peer, ee.Subject)
		}
	case IDFQDN:
		if err := ee.VerifyHostname(string(peer.Data)); err != nil {
			return nil, err
		}
	case IDIPv4Addr, IDIPv6Addr:
		a, _ := peer.Addr()
		if err := ee.VerifyHostname(a.String()); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("ID %v cannot be checked against a certificate", peer)
	}
	return ee.PublicKey, nil
}
