package certstest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// CertPEM is certificates as PEM, in order.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM is a private key as PKCS#8 PEM.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certstest: PKCS#8 of a %T: %v", key, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CRLPEM is a CRL as PEM.
func CRLPEM(crl *x509.RevocationList) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
}

// WriteFile writes data to path (mode 0600), creating its directory.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("certstest: %v", err)
	}
}

// Files are where WriteSwanctl and WritePEM put things.
type Files struct {
	Cert  string // the end entity (WritePEM: followed by its intermediates)
	Key   string // its PKCS#8 key
	CAs   []string
	CRLs  []string
	Chain string // WritePEM only: the intermediates alone
}

// WriteSwanctl writes c for strongSwan's swanctl under dir: the end entity
// as x509/<name>.pem, the intermediates and the root as x509ca/*.pem, the
// key as private/<name>.pem (PKCS#8), and any CRLs as x509crl/*.pem.
func WriteSwanctl(t testing.TB, dir, name string, c *Cert, crls ...*x509.RevocationList) Files {
	t.Helper()
	f := Files{
		Cert: filepath.Join(dir, "x509", name+".pem"),
		Key:  filepath.Join(dir, "private", name+".pem"),
	}
	WriteFile(t, f.Cert, CertPEM(c.Cert))
	WriteFile(t, f.Key, KeyPEM(t, c.Key))
	for i, ca := range slices.Concat(c.Chain[1:], []*x509.Certificate{c.Root}) {
		p := filepath.Join(dir, "x509ca", name+"-ca"+strconv.Itoa(i)+".pem")
		WriteFile(t, p, CertPEM(ca))
		f.CAs = append(f.CAs, p)
	}
	for i, crl := range crls {
		p := filepath.Join(dir, "x509crl", name+"-"+strconv.Itoa(i)+".crl")
		WriteFile(t, p, CRLPEM(crl))
		f.CRLs = append(f.CRLs, p)
	}
	return f
}

// WritePEM writes c as plain PEM files under dir, as oemesh's own
// configuration and Libreswan's PEM imports take them: <name>.crt (the end
// entity then its intermediates), <name>-chain.crt (the intermediates),
// <name>.key (PKCS#8) and ca.crt (the root).
func WritePEM(t testing.TB, dir, name string, c *Cert) Files {
	t.Helper()
	f := Files{
		Cert:  filepath.Join(dir, name+".crt"),
		Key:   filepath.Join(dir, name+".key"),
		Chain: filepath.Join(dir, name+"-chain.crt"),
		CAs:   []string{filepath.Join(dir, "ca.crt")},
	}
	WriteFile(t, f.Cert, CertPEM(c.Chain...))
	WriteFile(t, f.Key, KeyPEM(t, c.Key))
	WriteFile(t, f.Chain, CertPEM(c.Chain[1:]...))
	WriteFile(t, f.CAs[0], CertPEM(c.Root))
	return f
}
