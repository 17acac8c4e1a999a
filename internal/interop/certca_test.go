package interop

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/oemesh/oemesh/certs/certstest"
)

// interopCA is the shared test PKI (certs/certstest) as the certificate
// interop tests use it: an ECDSA P-256 root and an intermediate below it.
type interopCA struct {
	t           testing.TB
	root, inter *x509.Certificate
	rootCA      *certstest.CA
	interCA     *certstest.CA
}

// interopName is the subject DN "C=XX, O=oemesh interop, CN=cn".
func interopName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh interop"}, CommonName: cn}
}

func newInteropCA(t testing.TB) *interopCA { return newInteropCANamed(t, "") }

// newInteropCANamed makes a CA whose names start with prefix: "prefix
// Root CA" and "prefix Intermediate CA", so that charon, which finds
// CAs by name, can hold two.
func newInteropCANamed(t testing.TB, prefix string) *interopCA {
	t.Helper()
	if prefix != "" {
		prefix += " "
	}
	root := certstest.NewRootSubject(t, interopName(prefix+"Root CA"), certstest.ECDSAP256)
	inter := root.NewIntermediateSubject(t, interopName(prefix+"Intermediate CA"))
	return &interopCA{t: t, root: root.Cert, inter: inter.Cert, rootCA: root, interCA: inter}
}

func mustP256(t testing.TB) crypto.Signer {
	t.Helper()
	return certstest.NewKey(t, certstest.ECDSAP256)
}

// issue makes an end-entity certificate with subject C=XX,
// O=oemesh interop, CN=cn and an IP subjectAltName, by the intermediate
// (or the root when byRoot).
func (ca *interopCA) issue(cn string, key crypto.Signer, ip net.IP, byRoot bool) *x509.Certificate {
	ca.t.Helper()
	issuer := ca.interCA
	if byRoot {
		issuer = ca.rootCA
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		ca.t.Fatalf("issue %s: bad IP %v", cn, ip)
	}
	return issuer.Issue(ca.t, certstest.Options{Subject: interopName(cn), Signer: key, IPs: []netip.Addr{a.Unmap()}}).Cert
}

// dnOf is the DN of an end entity from issue, as strongSwan and
// oemesh's --id write it.
func dnOf(cn string) string { return "C=XX, O=oemesh interop, CN=" + cn }

// writeCerts writes certificates as one PEM file (mode 0644: charon may
// read it as another user).
func writeCerts(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, certstest.CertPEM(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
