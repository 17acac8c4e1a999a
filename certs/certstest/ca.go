package certstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// KeyType is the kind of key a certificate gets.
type KeyType int

// The key types. The zero value is ECDSAP256, the fastest to make.
const (
	ECDSAP256 KeyType = iota
	RSA2048
	Ed25519
)

// String names the key type as tests print it.
func (k KeyType) String() string {
	switch k {
	case RSA2048:
		return "rsa2048"
	case Ed25519:
		return "ed25519"
	}
	return "ecdsa-p256"
}

// NewKey makes a fresh key of type k.
func NewKey(t testing.TB, k KeyType) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("certstest: generating a %s key: %v", k, err)
	}
	return key
}

// OIDIPsecIKE is id-kp-ipsecIKE, the EKU RFC 4945 defines for IKE.
var OIDIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}

// Options describe a certificate. The zero value is an ECDSA P-256
// certificate valid from an hour ago for a day, with key usage
// digitalSignature and no EKU.
type Options struct {
	Subject pkix.Name
	Key     KeyType
	// Signer, when set, is the certificate's key, and Key is ignored: a
	// test that signs with keys of its own (or that must not wait for a
	// new RSA key per certificate) brings them.
	Signer crypto.Signer
	// DNSNames, IPs and Emails are the SANs.
	DNSNames []string
	IPs      []netip.Addr
	Emails   []string
	// EKU and UnknownEKU are the extended key usages (UnknownEKU for OIDs
	// crypto/x509 has no constant for, such as OIDIPsecIKE).
	EKU        []x509.ExtKeyUsage
	UnknownEKU []asn1.ObjectIdentifier
	// KeyUsage replaces the default digitalSignature; OmitKeyUsage leaves
	// the extension out.
	KeyUsage     x509.KeyUsage
	OmitKeyUsage bool
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// OCSPServer is the responders' URLs (authorityInfoAccess).
	OCSPServer []string
	// Serial is the serial number; zero picks the CA's next.
	Serial int64
}

// CA is a certificate authority: a root or an intermediate.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Parent is the CA that signed this one; nil for a root.
	Parent *CA

	mu     sync.Mutex
	serial int64
}

// Cert is an end-entity certificate with its key and the intermediates
// that lead to its root.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is Cert then its intermediates, the root excluded: what a peer
	// sends in CERT payloads.
	Chain []*x509.Certificate
	// Root is the trust anchor.
	Root *x509.Certificate
}

// DER is the chain as DER, the end entity first.
func (c *Cert) DER() [][]byte {
	out := make([][]byte, len(c.Chain))
	for i, x := range c.Chain {
		out[i] = x.Raw
	}
	return out
}

// NewRoot makes a self-signed root CA named cn, with an ECDSA P-256 key,
// valid from a day ago for ten years.
func NewRoot(t testing.TB, cn string) *CA {
	t.Helper()
	return NewRootWith(t, cn, ECDSAP256)
}

// NewRootWith is NewRoot with a key of type k.
func NewRootWith(t testing.TB, cn string, k KeyType) *CA {
	t.Helper()
	return NewRootSubject(t, caName(cn), k)
}

// NewRootSubject is NewRootWith with the whole subject DN, for tests that
// check how a CA's name is shown.
func NewRootSubject(t testing.TB, subject pkix.Name, k KeyType) *CA {
	t.Helper()
	key := NewKey(t, k)
	now := time.Now()
	tmpl := caTemplate(subject, 1, now.Add(-24*time.Hour), now.Add(10*365*24*time.Hour))
	return &CA{Cert: create(t, tmpl, tmpl, key.Public(), key), Key: key, serial: 1}
}

// NewIntermediate makes a CA named cn signed by ca.
func (ca *CA) NewIntermediate(t testing.TB, cn string) *CA {
	t.Helper()
	return ca.NewIntermediateSubject(t, caName(cn))
}

// NewIntermediateSubject is NewIntermediate with the whole subject DN.
func (ca *CA) NewIntermediateSubject(t testing.TB, subject pkix.Name) *CA {
	t.Helper()
	key := NewKey(t, ECDSAP256)
	now := time.Now()
	tmpl := caTemplate(subject, ca.nextSerial(0), now.Add(-24*time.Hour), now.Add(5*365*24*time.Hour))
	return &CA{Cert: create(t, tmpl, ca.Cert, key.Public(), ca.Key), Key: key, Parent: ca, serial: 1}
}

// caName is the subject of a CA named cn.
func caName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"oemesh test"}}
}

// Issue makes an end-entity certificate as o describes.
func (ca *CA) Issue(t testing.TB, o Options) *Cert {
	t.Helper()
	key := o.Signer
	if key == nil {
		key = NewKey(t, o.Key)
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.nextSerial(o.Serial)),
		Subject:               o.Subject,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		DNSNames:              o.DNSNames,
		EmailAddresses:        o.Emails,
		ExtKeyUsage:           o.EKU,
		UnknownExtKeyUsage:    o.UnknownEKU,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		OCSPServer:            o.OCSPServer,
		BasicConstraintsValid: true,
	}
	if o.KeyUsage != 0 {
		tmpl.KeyUsage = o.KeyUsage
	}
	if o.OmitKeyUsage {
		tmpl.KeyUsage = 0
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	for _, a := range o.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, a.AsSlice())
	}
	cert := create(t, tmpl, ca.Cert, key.Public(), ca.Key)
	out := &Cert{Cert: cert, Key: key, Chain: []*x509.Certificate{cert}}
	for c := ca; c != nil; c = c.Parent {
		if c.Parent == nil {
			out.Root = c.Cert
		} else {
			out.Chain = append(out.Chain, c.Cert)
		}
	}
	return out
}

func (ca *CA) nextSerial(want int64) int64 {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if want != 0 {
		if want > ca.serial {
			ca.serial = want
		}
		return want
	}
	ca.serial++
	return ca.serial
}

func caTemplate(subject pkix.Name, serial int64, from, until time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subject,
		NotBefore:             from,
		NotAfter:              until,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("certstest: creating %q: %v", tmpl.Subject, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certstest: parsing %q: %v", tmpl.Subject, err)
	}
	return c
}
