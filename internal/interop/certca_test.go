package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// interopCA is a test CA made with crypto/x509 for the certificate
// interop tests: an ECDSA P-256 root and an intermediate below it.
type interopCA struct {
	t                 testing.TB
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	serial            int64
}

func newInteropCA(t testing.TB) *interopCA {
	t.Helper()
	ca := &interopCA{t: t, rootKey: mustP256(t), interKey: mustP256(t)}
	ca.root = ca.sign(&x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh interop"}, CommonName: "Root CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, ca.rootKey.Public(), nil, ca.rootKey)
	ca.inter = ca.sign(&x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh interop"}, CommonName: "Intermediate CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, ca.interKey.Public(), ca.root, ca.rootKey)
	return ca
}

func mustP256(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (ca *interopCA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
	ca.t.Helper()
	ca.serial++
	tmpl.SerialNumber = big.NewInt(ca.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
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

// issue makes an end-entity certificate with subject C=XX,
// O=oemesh interop, CN=cn and an IP subjectAltName, by the intermediate
// (or the root when byRoot).
func (ca *interopCA) issue(cn string, key crypto.Signer, ip net.IP, byRoot bool) *x509.Certificate {
	parent, pkey := ca.inter, ca.interKey
	if byRoot {
		parent, pkey = ca.root, ca.rootKey
	}
	return ca.sign(&x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh interop"}, CommonName: cn},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{ip}}, key.Public(), parent, pkey)
}

// dnOf is the DN of an end entity from issue, as strongSwan and
// oemesh's --id write it.
func dnOf(cn string) string { return "C=XX, O=oemesh interop, CN=" + cn }

// writeCerts writes certificates as one PEM file.
func writeCerts(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
