package main

import (
	"context"
	"crypto"
	"crypto/x509"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
)

// certVerifier hands a certs.Verifier to the IKE engine as its
// ike.CertVerifier: the peer's chain must lead to one of the --ca roots
// (through the intermediates the peer sent), be valid now, carry a key
// usage and EKU that allow IKE (docs/certificates.md), and name the
// identity the peer claims.
type certVerifier struct{ v *certs.Verifier }

func newCertVerifier(cas []*x509.Certificate) (certVerifier, error) {
	v, err := certs.New(certs.Config{Roots: cas})
	if err != nil {
		return certVerifier{}, err
	}
	return certVerifier{v}, nil
}

// VerifyCert implements ike.CertVerifier.
func (a certVerifier) VerifyCert(ctx context.Context, chain [][]byte, peer ike.Identity) (crypto.PublicKey, error) {
	res, err := a.v.Verify(ctx, chain, certs.ID{Type: certs.IDType(peer.Type), Data: peer.Data})
	if err != nil {
		return nil, err
	}
	return res.PublicKey, nil
}

// certHoldsID is the engine's CertNameMatch: whether one of our
// certificates holds the identity a peer asks for in IDr, as
// certs.MatchID matches a claimed one (DNs canonically, SANs).
func certHoldsID(c *x509.Certificate, id ike.Identity) bool {
	return certs.MatchID(c, certs.ID{Type: certs.IDType(id.Type), Data: id.Data}) == nil
}

// The engine counts a refusal by its certs.Reason (ike.Stats.CertFailures).
var _ ike.CertFailureLabeler = (*certs.VerifyError)(nil)
