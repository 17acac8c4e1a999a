package ike

// Certificate authentication (RFC 7296 §3.6-3.7, §2.15): what we send
// (CERT with our end-entity certificate and, as configured, its
// intermediates; CERTREQ naming the CAs we trust) and how a peer's
// certificate chain becomes the key its AUTH payload is verified with.
// The engine does not validate chains itself: a CertVerifier does.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1" //nolint:gosec // RFC 7296 §3.7 names CAs by the SHA-1 hash of their key
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// CertVerifier checks a peer's certificate chain and that it names the
// identity the peer claims, and returns the key to verify the peer's
// AUTH payload with. chain is DER, the end-entity certificate first,
// then whatever else the peer sent, in the order of its CERT payloads.
// An error means the peer is refused with AUTHENTICATION_FAILED; ctx
// bounds work such as OCSP queries.
type CertVerifier interface {
	VerifyCert(ctx context.Context, chain [][]byte, peer Identity) (crypto.PublicKey, error)
}

//go:generate go tool stringer -type=SendCert -linecomment

// SendCert says when we send our certificates, as strongSwan's send_cert
// does. The zero value is SendCertIfAsked.
type SendCert uint8

// When to send CERT payloads.
const (
	// SendCertIfAsked sends the chain only when the peer sent a CERTREQ
	// (of any CA: the request is a hint, the verifier decides).
	SendCertIfAsked SendCert = iota // ifasked
	// SendCertAlways sends it in every IKE_AUTH.
	SendCertAlways // always
	// SendCertNever sends none: the peer has our certificate already.
	SendCertNever // never
)

// CertCredential is a certificate we authenticate with (AuthKindCert).
type CertCredential struct {
	// Chain is DER: our end-entity certificate first, then the
	// intermediates to send with it (not the root).
	Chain [][]byte
	// Signer is the end-entity certificate's private key.
	Signer crypto.Signer
	// ID is the identity we claim: the certificate's subject DN
	// (CertDNIdentity) or one of its subjectAltNames as ID_FQDN or
	// ID_IPV4/6_ADDR. The zero value means the subject DN.
	ID Identity
	// Send says when the chain goes into IKE_AUTH.
	Send SendCert
	// CAKeyHashes name the CAs above Chain that a peer's CERTREQ may
	// ask for (CAKeyHash of each; typically the root), so that a
	// responder with several certificates picks this one for that peer
	// (certselect.go). The intermediates in Chain count without being
	// listed.
	CAKeyHashes [][]byte
}

// check parses the end-entity certificate and checks that Signer is its
// key; it returns the certificate.
func (c *CertCredential) check() (*x509.Certificate, error) {
	if len(c.Chain) == 0 {
		return nil, errors.New("certificate credential without a certificate")
	}
	if c.Signer == nil {
		return nil, errors.New("certificate credential without a private key")
	}
	ee, err := x509.ParseCertificate(c.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("certificate credential: end-entity certificate: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := ee.PublicKey.(equaler); !ok || !k.Equal(c.Signer.Public()) {
		return nil, fmt.Errorf("certificate credential: the private key is not the key of certificate %q", ee.Subject)
	}
	for i, der := range c.Chain[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("certificate credential: intermediate %d: %w", i+1, err)
		}
	}
	return ee, nil
}

// SetCertCredential replaces the default certificate
// (Credentials.Cert), for a renewal: IKE_AUTH exchanges from now on use
// c, IKE SAs already up keep theirs, and one being built keeps the one it
// chose. The engine must have been built with a default certificate,
// since whether we have one decides how we answer a NULL peer
// (responderAuthKind), and c is checked as that one was.
func (e *Engine) SetCertCredential(c *CertCredential) error {
	e.certsMu.Lock()
	defer e.certsMu.Unlock()
	old := e.certs.Load()
	if old.def == nil {
		return errors.New("ike: set certificate: the engine was built without one (Credentials.Cert)")
	}
	if c == nil {
		return errors.New("ike: set certificate: nil credential")
	}
	oc, err := newOurCert(c)
	if err != nil {
		return fmt.Errorf("ike: set certificate: %w", err)
	}
	e.certs.Store(&certSet{def: oc, more: old.more})
	return nil
}

// SetCertCredentials replaces the further certificates
// (Credentials.Certs) a responder chooses from (certselect.go), e.g.
// when a conn is added, removed or renewed; the default stays. As with
// SetCertCredential, SAs already up or being built keep theirs. Either
// every credential is good and all replace the old ones, or nothing
// changes.
func (e *Engine) SetCertCredentials(certs []*CertCredential) error {
	more, err := newOurCerts(certs)
	if err != nil {
		return fmt.Errorf("ike: set certificates: %w", err)
	}
	e.certsMu.Lock()
	defer e.certsMu.Unlock()
	e.certs.Store(&certSet{def: e.certs.Load().def, more: more})
	return nil
}

// hasDefaultCert reports whether we have a default certificate
// (Credentials.Cert), with which we answer NULL peers that ask for a
// certificate.
func (e *Engine) hasDefaultCert() bool { return e.certs.Load().def != nil }

// CertDNIdentity returns the ID_DER_ASN1_DN identity of a certificate's
// subject, as its DER encoding.
func CertDNIdentity(c *x509.Certificate) Identity {
	return Identity{Type: IDDerASN1DN, Data: bytes.Clone(c.RawSubject)}
}

// CAKeyHash returns how a CERTREQ names a CA (RFC 7296 §3.7): the SHA-1
// hash of its DER SubjectPublicKeyInfo.
func CAKeyHash(ca *x509.Certificate) []byte {
	h := sha1.Sum(ca.RawSubjectPublicKeyInfo) //nolint:gosec // the hash RFC 7296 §3.7 specifies
	return h[:]
}

// PeerCertificate summarises the end-entity certificate a peer
// authenticated with, for display.
type PeerCertificate struct {
	Raw         []byte // DER
	Subject     string
	Issuer      string
	NotAfter    time.Time
	DNSNames    []string
	IPAddresses []netip.Addr
}

// summarizeCert describes a DER certificate; nil when it does not parse
// (the verifier accepted it, so it does).
func summarizeCert(der []byte) *PeerCertificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	pc := &PeerCertificate{Raw: c.Raw, Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter, DNSNames: c.DNSNames}
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			pc.IPAddresses = append(pc.IPAddresses, a.Unmap())
		}
	}
	return pc
}

// x509Chain collects the X.509 certificates of m's CERT payloads, in
// order; CERT payloads of other encodings are ignored.
func x509Chain(m *wire.Message) [][]byte {
	var chain [][]byte
	for _, p := range m.Payloads {
		if c, ok := p.(*wire.Cert); ok && !c.Request && c.Encoding == wire.CertX509Signature {
			chain = append(chain, c.Data)
		}
	}
	return chain
}

// hasCertReq reports whether m carries a CERTREQ for X.509 certificates.
func hasCertReq(m *wire.Message) bool {
	for _, p := range m.Payloads {
		if c, ok := p.(*wire.Cert); ok && c.Request && c.Encoding == wire.CertX509Signature {
			return true
		}
	}
	return false
}

// peerAuthKind is the class of the peer's authentication in IKE_AUTH
// message m: a signature with X.509 CERT payloads is AuthKindCert when
// we verify certificates at all. Without a CertVerifier the CERT
// payloads are ignored, as before certificates were supported, and the
// signature is checked with the keys the KeyResolver finds.
func (sa *ikeSA) peerAuthKind(m *wire.Message, a *wire.Auth) AuthKind {
	kind := authKindOf(a.Method)
	if kind == AuthKindPubkey && sa.certVerifier() != nil && len(x509Chain(m)) > 0 {
		return AuthKindCert
	}
	return kind
}

// certVerifier is what checks the peer's certificate chain: our
// initiation's own (InitiateOptions.PeerCertVerifier) while we initiate
// with one, else the engine's; nil when we verify none. Called with
// sa.mu held.
func (sa *ikeSA) certVerifier() CertVerifier {
	if in := sa.init; in != nil && in.opts.PeerCertVerifier != nil {
		return in.opts.PeerCertVerifier
	}
	return sa.e.cfg.CertVerifier
}

// certRequest is the CERTREQ we send when we verify certificates: it
// names the CAs of the verifier in use (InitiateOptions.PeerCertAuthorities,
// or EngineConfig.CertAuthorities and what SetCertAuthorities put since),
// or none, which asks for a certificate from any CA. nil when we verify none.
func (sa *ikeSA) certRequest() *wire.Cert {
	if in := sa.init; in != nil && in.opts.PeerCertVerifier != nil {
		return wire.X509CertReq(in.opts.PeerCertAuthorities)
	}
	if sa.e.cfg.CertVerifier == nil {
		return nil
	}
	return wire.X509CertReq(*sa.e.certAuthorities.Load())
}

// ourCertPayloads are the CERT payloads of our IKE_AUTH message when we
// authenticate with a certificate (the one chosen for the SA, sa.cert),
// as its CertCredential.Send says.
func (sa *ikeSA) ourCertPayloads() []wire.Payload {
	if sa.cert == nil {
		return nil
	}
	c := sa.cert.cred
	switch c.Send {
	case SendCertNever:
		return nil
	case SendCertIfAsked:
		if !sa.peerCertReq {
			sa.e.log.Debug("ike: certificate not sent: the peer sent no CERTREQ", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "remote", sa.remote)
			return nil
		}
	}
	ps := make([]wire.Payload, 0, len(c.Chain))
	for _, der := range c.Chain {
		ps = append(ps, wire.X509Cert(der))
	}
	return ps
}
