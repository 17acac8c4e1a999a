package certs

import (
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
)

func TestLoadKeyPair(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	for _, k := range []certstest.KeyType{certstest.ECDSAP256, certstest.RSA2048, certstest.Ed25519} {
		ee := p.inter.Issue(t, certstest.Options{Key: k, DNSNames: []string{"gw.example"}})
		f := certstest.WritePEM(t, filepath.Join(dir, k.String()), "gw", ee)
		kp, err := LoadKeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(kp.Chain) != 2 || !kp.Leaf().Equal(ee.Cert) || !kp.Chain[1].Equal(p.inter.Cert) {
			t.Fatalf("%s: chain %v, want the EE then the intermediate", k, subjects(kp.Chain))
		}
		if d := kp.DER(); len(d) != 2 || string(d[0]) != string(ee.Cert.Raw) {
			t.Fatalf("%s: DER is not the chain", k)
		}
	}

	// The key of another certificate.
	a := p.inter.Issue(t, certstest.Options{})
	b := p.inter.Issue(t, certstest.Options{})
	fa := certstest.WritePEM(t, filepath.Join(dir, "a"), "a", a)
	fb := certstest.WritePEM(t, filepath.Join(dir, "b"), "b", b)
	_, err := LoadKeyPair(fa.Cert, fb.Key)
	if err == nil || !strings.Contains(err.Error(), "does not belong") || !strings.Contains(err.Error(), fa.Cert) {
		t.Fatalf("mismatched key and certificate: %v", err)
	}
}

func TestLoadCertificates(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	ee := p.inter.Issue(t, certstest.Options{})
	der := filepath.Join(dir, "ee.der")
	certstest.WriteFile(t, der, ee.Cert.Raw)
	if cs, err := LoadCertificates(der); err != nil || len(cs) != 1 || !cs[0].Equal(ee.Cert) {
		t.Fatalf("DER file: %v, %v", cs, err)
	}
	mixed := filepath.Join(dir, "mixed.pem")
	certstest.WriteFile(t, mixed, append(certstest.CertPEM(ee.Cert), certstest.KeyPEM(t, ee.Key)...))
	if _, err := LoadCertificates(mixed); err == nil || !strings.Contains(err.Error(), mixed) || !strings.Contains(err.Error(), `"PRIVATE KEY"`) {
		t.Fatalf("a key in a certificate file: %v", err)
	}
	if _, err := LoadCertificates(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("a missing file: %v", err)
	}
}

func TestLoadCABundle(t *testing.T) {
	p := newPKI(t)
	other := certstest.NewRoot(t, "other root")
	dir := t.TempDir()
	// A swanctl layout: the root and the intermediate under x509ca.
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}})
	f := certstest.WriteSwanctl(t, dir, "gw", ee)
	certstest.WriteFile(t, filepath.Join(dir, "x509ca", "other.pem"), certstest.CertPEM(other.Cert))
	certstest.WriteFile(t, filepath.Join(dir, "x509ca", ".hidden"), []byte("ignored"))
	cas, err := LoadCABundle(filepath.Join(dir, "x509ca"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cas) != 3 {
		t.Fatalf("%d CAs, want 3 (the intermediate, the root, the other root)", len(cas))
	}
	if _, err := LoadKeyPair(f.Cert, f.Key); err != nil {
		t.Fatalf("the swanctl layout's certificate and key: %v", err)
	}
	// A single file.
	if cas, err := LoadCABundle(f.CAs[len(f.CAs)-1]); err != nil || len(cas) != 1 || !cas[0].Equal(p.root.Cert) {
		t.Fatalf("the root's file: %v, %v", cas, err)
	}
	// An end entity among the CAs, or junk, is an error naming the file.
	certstest.WriteFile(t, filepath.Join(dir, "x509ca", "zz-ee.pem"), certstest.CertPEM(ee.Cert))
	if _, err := LoadCABundle(filepath.Join(dir, "x509ca")); err == nil || !strings.Contains(err.Error(), "zz-ee.pem") || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("an EE in the bundle: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := LoadCABundle(empty); err == nil {
		t.Fatal("an empty bundle loaded")
	}
}

func TestLoadCRLs(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	now := time.Now()
	crl := p.inter.CRL(t, now.Add(-time.Hour), now.Add(time.Hour), big.NewInt(5))
	certstest.WriteFile(t, filepath.Join(dir, "a.crl"), certstest.CRLPEM(crl))
	certstest.WriteFile(t, filepath.Join(dir, "b.crl"), crl.Raw)
	crls, err := LoadCRLs(dir)
	if err != nil || len(crls) != 2 {
		t.Fatalf("LoadCRLs: %d, %v", len(crls), err)
	}
	for _, c := range crls {
		if len(c.RevokedCertificateEntries) != 1 || c.RevokedCertificateEntries[0].SerialNumber.Int64() != 5 {
			t.Fatalf("CRL lost its entry: %+v", c.RevokedCertificateEntries)
		}
	}
	certstest.WriteFile(t, filepath.Join(dir, "c.crl"), certstest.CertPEM(p.root.Cert))
	if _, err := LoadCRLs(dir); err == nil || !strings.Contains(err.Error(), "c.crl") {
		t.Fatalf("a certificate among the CRLs: %v", err)
	}
}
