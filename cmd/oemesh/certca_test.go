package main

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/oemesh/oemesh/certs/certstest"
)

// toolCA is the shared test PKI (certs/certstest) as the tools' tests use
// it: a root and an intermediate that issues end-entity certificates.
type toolCA struct {
	t           testing.TB
	root, inter *x509.Certificate
	issuer      *certstest.CA
}

// toolName is the subject DN "CN=cn,O=oemesh test,C=XX".
func toolName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: cn}
}

func newToolCA(t testing.TB, name string) *toolCA {
	t.Helper()
	root := certstest.NewRootSubject(t, toolName(name+" Root CA"), certstest.ECDSAP256)
	inter := root.NewIntermediateSubject(t, toolName(name+" Intermediate CA"))
	return &toolCA{t: t, root: root.Cert, inter: inter.Cert, issuer: inter}
}

// issue makes an end-entity certificate, issued by the intermediate,
// for key with CN cn and the given DNS or IP subjectAltNames; mod may
// change the options.
func (ca *toolCA) issue(cn string, key crypto.Signer, mod func(*certstest.Options), sans ...string) *x509.Certificate {
	ca.t.Helper()
	o := certstest.Options{Subject: toolName(cn), Signer: key}
	for _, s := range sans {
		if a, err := netip.ParseAddr(s); err == nil {
			o.IPs = append(o.IPs, a)
		} else {
			o.DNSNames = append(o.DNSNames, s)
		}
	}
	if mod != nil {
		mod(&o)
	}
	return ca.issuer.Issue(ca.t, o).Cert
}

// writePEM writes certificates (CERTIFICATE blocks) or a private key
// (PKCS#8) to a file in dir and returns its path.
func writePEM(t testing.TB, dir, name string, certs []*x509.Certificate, key crypto.Signer) string {
	t.Helper()
	out := certstest.CertPEM(certs...)
	if key != nil {
		out = append(out, certstest.KeyPEM(t, key)...)
	}
	p := filepath.Join(dir, name)
	certstest.WriteFile(t, p, out)
	return p
}
