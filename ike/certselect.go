package ike

// Which of our certificates an IKE SA authenticates with, when the
// engine holds more than one (Credentials.Cert, the default, and
// Credentials.Certs, e.g. one per configured conn):
//   - as initiator: InitiateOptions.Cert, the conn's own, else the
//     default;
//   - as responder to a peer that authenticates with a certificate: the
//     first certificate that holds the identity the peer asked for in
//     IDr; else the first whose CAs the peer's CERTREQ names; else the
//     default, which is Credentials.Cert or, without one, the first of
//     Credentials.Certs;
//   - as responder to a NULL peer (certificate OE, responderAuthKind):
//     the default only. A conn's certificate is for that conn's peers,
//     and an OE client's CERTREQ names the CAs it trusts, not which of our
//     services it wants.
// "First" is in the order default, then Credentials.Certs. The choice is
// made when our IKE_AUTH message is built and kept in the SA (ikeSA.cert),
// so that the identity, the CERT payloads and the AUTH signature always
// come from the same credential, even while SetCertCredential replaces
// one.

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// ourCert is one of our certificate credentials as the engine uses it:
// parsed and checked once, with what a peer may choose it by.
type ourCert struct {
	cred *CertCredential
	leaf *x509.Certificate
	// asked is the name the peer asked for in IDr, when we claim it
	// (holds); zero: we claim identity().
	asked Identity
	// caHashes name the CAs above the end entity (CAKeyHash): the
	// intermediates of cred.Chain, then cred.CAKeyHashes.
	caHashes [][]byte
}

// newOurCert checks c (its key is the certificate's, its CA hashes are
// SHA-1 sized) and prepares it for choosing.
func newOurCert(c *CertCredential) (*ourCert, error) {
	if c == nil {
		return nil, errors.New("certificate credential is nil")
	}
	leaf, err := c.check()
	if err != nil {
		return nil, err
	}
	oc := &ourCert{cred: c, leaf: leaf}
	for _, der := range c.Chain[1:] {
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err // check parsed it already
		}
		oc.caHashes = append(oc.caHashes, CAKeyHash(ca))
	}
	for i, h := range c.CAKeyHashes {
		if len(h) != wire.CAKeyHashLen {
			return nil, fmt.Errorf("certificate credential %q: CAKeyHashes[%d] has %d octets, want a %d-octet SHA-1 key hash", leaf.Subject, i, len(h), wire.CAKeyHashLen)
		}
		oc.caHashes = append(oc.caHashes, h)
	}
	return oc, nil
}

// identity is what we claim with the certificate: the name the peer
// asked for, else the credential's ID, else the subject DN.
func (c *ourCert) identity() Identity {
	switch {
	case c.asked.Type != 0:
		return c.asked
	case c.cred.ID.Type != 0:
		return c.cred.ID
	}
	return CertDNIdentity(c.leaf)
}

// holds reports whether the certificate is the one for a peer that asked
// for id in IDr: id is the identity we claim with it, or match (the
// engine's CertNameMatch) finds id in the certificate. It returns the
// identity to claim: the credential's own ID when it has one, else id,
// since the peer asked for it and the certificate holds it.
func (c *ourCert) holds(id Identity, match func(*x509.Certificate, Identity) bool) (Identity, bool) {
	if ours := c.identity(); SameIdentity(ours, id) {
		return ours, true
	}
	if match == nil || !match(c.leaf, id) {
		return Identity{}, false
	}
	if c.cred.ID.Type != 0 {
		return c.cred.ID, true
	}
	return id, true
}

// issuedUnder reports whether one of the CAs a CERTREQ names (hashes) is
// above the certificate.
func (c *ourCert) issuedUnder(hashes [][]byte) bool {
	for _, h := range hashes {
		for _, ours := range c.caHashes {
			if bytes.Equal(h, ours) {
				return true
			}
		}
	}
	return false
}

// claiming returns c with id as the identity claimed.
func (c *ourCert) claiming(id Identity) *ourCert {
	cp := *c
	cp.asked = id
	return &cp
}

// certSet is every certificate the engine may authenticate with. It is
// replaced whole (Engine.certs), never changed in place.
type certSet struct {
	def  *ourCert   // Credentials.Cert, as SetCertCredential last set it
	more []*ourCert // Credentials.Certs, as SetCertCredentials last set them
}

// newCertSet checks def (which may be nil) and more.
func newCertSet(def *CertCredential, more []*CertCredential) (*certSet, error) {
	s := &certSet{}
	if def != nil {
		c, err := newOurCert(def)
		if err != nil {
			return nil, err
		}
		s.def = c
	}
	var err error
	if s.more, err = newOurCerts(more); err != nil {
		return nil, err
	}
	return s, nil
}

func newOurCerts(more []*CertCredential) ([]*ourCert, error) {
	out := make([]*ourCert, 0, len(more))
	for i, m := range more {
		c, err := newOurCert(m)
		if err != nil {
			return nil, fmt.Errorf("credential Certs[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// fallback is the default: Credentials.Cert, else the first of
// Credentials.Certs; nil when there is no certificate at all.
func (s *certSet) fallback() *ourCert {
	if s.def != nil {
		return s.def
	}
	if len(s.more) > 0 {
		return s.more[0]
	}
	return nil
}

// all is every certificate, the default first.
func (s *certSet) all() []*ourCert {
	if s.def == nil {
		return s.more
	}
	return append([]*ourCert{s.def}, s.more...)
}

// forPeer chooses our certificate for a responder SA whose peer
// authenticated as a configured peer: by idr (nil: the peer named no
// responder, or ID_NULL), then by the CA hashes of its CERTREQ, then the
// default. It also says why, for the log.
func (s *certSet) forPeer(idr *Identity, reqHashes [][]byte, match func(*x509.Certificate, Identity) bool) (*ourCert, string) {
	if idr != nil {
		for _, c := range s.all() {
			if id, ok := c.holds(*idr, match); ok {
				return c.claiming(id), "IDr"
			}
		}
	}
	if len(reqHashes) > 0 {
		for _, c := range s.all() {
			if c.issuedUnder(reqHashes) {
				return c, "CERTREQ"
			}
		}
	}
	return s.fallback(), "default"
}

// certReqHashes collects the CA key hashes of m's X.509 CERTREQ
// payloads. A malformed list is skipped: a CERTREQ is only a hint.
func certReqHashes(m *wire.Message) [][]byte {
	var out [][]byte
	for _, p := range m.Payloads {
		c, ok := p.(*wire.Cert)
		if !ok || !c.Request || c.Encoding != wire.CertX509Signature {
			continue
		}
		if hs, err := c.CAKeyHashes(); err == nil {
			out = append(out, hs...)
		}
	}
	return out
}

// chooseResponderCert sets the certificate a responder SA answers the
// IKE_AUTH request m with (see the top of this file); peerKind is how the
// peer authenticated. Called with sa.mu held.
func (sa *ikeSA) chooseResponderCert(m *wire.Message, peerKind AuthKind) error {
	set := sa.e.certs.Load()
	if peerKind == AuthKindNull {
		sa.cert = set.def
		if sa.cert == nil {
			return errors.New("ike: certificate OE but no default certificate (Credentials.Cert)")
		}
		return nil
	}
	var idr *Identity
	if p, ok := m.Get(wire.PayloadIDr).(*wire.IDPayload); ok && p.Identity.Type != IDNull {
		idr = &p.Identity
	}
	c, why := set.forPeer(idr, certReqHashes(m), sa.e.cfg.CertNameMatch)
	if c == nil {
		return errors.New("ike: certificate authentication but no certificate (Credentials.Cert, Credentials.Certs)")
	}
	sa.cert = c
	sa.e.log.Debug("ike: our certificate chosen", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "remote", sa.remote,
		"by", why, "subject", c.leaf.Subject.String(), "id", c.identity())
	return nil
}

// chooseInitiatorCert sets the certificate our IKE_AUTH request
// authenticates with: the initiation's own, else the default. Called
// with sa.mu held.
func (sa *ikeSA) chooseInitiatorCert(in *initiation) error {
	if in.cert != nil {
		sa.cert = in.cert
		return nil
	}
	sa.cert = sa.e.certs.Load().def
	if sa.cert == nil {
		return errors.New("ike: certificate authentication but neither InitiateOptions.Cert nor a default certificate (Credentials.Cert)")
	}
	return nil
}
