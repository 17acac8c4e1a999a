package certstest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueChains(t *testing.T) {
	root := NewRoot(t, "root")
	inter := root.NewIntermediate(t, "inter")
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	for _, tt := range []struct {
		k    KeyType
		want any
	}{{ECDSAP256, &ecdsa.PublicKey{}}, {RSA2048, &rsa.PublicKey{}}, {Ed25519, ed25519.PublicKey{}}} {
		c := inter.Issue(t, Options{
			Key: tt.k, Subject: pkix.Name{CommonName: "gw"}, DNSNames: []string{"gw.example"},
			IPs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if got, want := c.Cert.PublicKeyAlgorithm, map[KeyType]x509.PublicKeyAlgorithm{ECDSAP256: x509.ECDSA, RSA2048: x509.RSA, Ed25519: x509.Ed25519}[tt.k]; got != want {
			t.Errorf("%s: key algorithm %s, want %s", tt.k, got, want)
		}
		if len(c.Chain) != 2 || !c.Chain[1].Equal(inter.Cert) || !c.Root.Equal(root.Cert) || len(c.DER()) != 2 {
			t.Fatalf("%s: chain of %d, root %v", tt.k, len(c.Chain), c.Root.Subject)
		}
		inters := x509.NewCertPool()
		inters.AddCert(inter.Cert)
		if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, DNSName: "gw.example"}); err != nil {
			t.Fatalf("%s: crypto/x509 refuses the chain: %v", tt.k, err)
		}
		if c.Cert.KeyUsage != x509.KeyUsageDigitalSignature || len(c.Cert.IPAddresses) != 1 {
			t.Fatalf("%s: key usage %v, IPs %v", tt.k, c.Cert.KeyUsage, c.Cert.IPAddresses)
		}
	}
	// Serials are unique per CA, and a chosen one is kept.
	a, b := inter.Issue(t, Options{}), inter.Issue(t, Options{Serial: 4242})
	if a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 || b.Cert.SerialNumber.Int64() != 4242 {
		t.Fatalf("serials %s and %s", a.Cert.SerialNumber, b.Cert.SerialNumber)
	}
	if c := inter.Issue(t, Options{OmitKeyUsage: true}); c.Cert.KeyUsage != 0 {
		t.Fatalf("OmitKeyUsage left %v", c.Cert.KeyUsage)
	}
	// A CA's subject may be given whole.
	name := pkix.Name{Country: []string{"XX"}, Organization: []string{"o"}, CommonName: "named root"}
	named := NewRootSubject(t, name, ECDSAP256)
	sub := named.NewIntermediateSubject(t, pkix.Name{CommonName: "named inter"})
	if c := sub.Issue(t, Options{}); named.Cert.Subject.String() != "CN=named root,O=o,C=XX" || c.Cert.Issuer.String() != "CN=named inter" || !c.Root.Equal(named.Cert) {
		t.Fatalf("named CAs: root %q, issuer %q", named.Cert.Subject, c.Cert.Issuer)
	}
	// A key the test brings is the certificate's, whatever Key says.
	own := NewKey(t, Ed25519)
	if c := inter.Issue(t, Options{Signer: own, Key: RSA2048}); !own.Public().(ed25519.PublicKey).Equal(c.Cert.PublicKey) {
		t.Fatalf("Signer: the certificate's key is a %T, not the one given", c.Cert.PublicKey)
	}
}

func TestCRL(t *testing.T) {
	root := NewRoot(t, "root")
	now := time.Now().Truncate(time.Second)
	crl := root.CRL(t, now, now.Add(time.Hour), big.NewInt(7))
	if err := crl.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Int64() != 7 || !crl.NextUpdate.Equal(now.Add(time.Hour)) {
		t.Fatalf("CRL %+v", crl)
	}
}

func TestWriteLayouts(t *testing.T) {
	root := NewRoot(t, "root")
	c := root.NewIntermediate(t, "inter").Issue(t, Options{})
	dir := t.TempDir()
	now := time.Now()
	f := WriteSwanctl(t, dir, "moon", c, root.CRL(t, now, now.Add(time.Hour)))
	for _, p := range []string{"x509/moon.pem", "private/moon.pem", "x509ca/moon-ca0.pem", "x509ca/moon-ca1.pem", "x509crl/moon-0.crl"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("swanctl layout: %v", err)
		}
	}
	if f.Cert != filepath.Join(dir, "x509/moon.pem") || len(f.CAs) != 2 || len(f.CRLs) != 1 {
		t.Errorf("swanctl files %+v", f)
	}
	if len(c.Chain) != 2 {
		t.Fatalf("writing changed the chain: %d certificates", len(c.Chain))
	}
	p := WritePEM(t, filepath.Join(dir, "pem"), "sun", c)
	for _, path := range []string{p.Cert, p.Key, p.Chain, p.CAs[0]} {
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("PEM layout: %s: %v", path, err)
		}
	}
}
