package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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

// toolCA is a test CA made with crypto/x509: a root and an intermediate
// that issues end-entity certificates.
type toolCA struct {
	t                 testing.TB
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	serial            int64
}

func newToolCA(t testing.TB, name string) *toolCA {
	t.Helper()
	ca := &toolCA{t: t, rootKey: newKey(t, "p256"), interKey: newKey(t, "p256")}
	ca.root = ca.make(&x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: name + " Root CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, ca.rootKey.Public(), nil, ca.rootKey)
	ca.inter = ca.make(&x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: name + " Intermediate CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, ca.interKey.Public(), ca.root, ca.rootKey)
	return ca
}

func newKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil || k == nil {
		t.Fatalf("key %s: %v", kind, err)
	}
	return k
}

func (ca *toolCA) make(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
	ca.t.Helper()
	ca.serial++
	tmpl.SerialNumber = big.NewInt(ca.serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
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

// issue makes an end-entity certificate, issued by the intermediate,
// for key with CN cn and the given DNS or IP subjectAltNames; mod may
// change the template.
func (ca *toolCA) issue(cn string, key crypto.Signer, mod func(*x509.Certificate), sans ...string) *x509.Certificate {
	tmpl := &x509.Certificate{Subject: pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: cn},
		KeyUsage: x509.KeyUsageDigitalSignature}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	if mod != nil {
		mod(tmpl)
	}
	return ca.make(tmpl, key.Public(), ca.inter, ca.interKey)
}

// writePEM writes certificates (CERTIFICATE blocks) or a private key
// (PKCS#8) to a file in dir and returns its path.
func writePEM(t testing.TB, dir, name string, certs []*x509.Certificate, key crypto.Signer) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
