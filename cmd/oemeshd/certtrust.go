package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
)

// Certificate OE, client side (docs/certificate-oe.md):
// oe.trust_certificates says which CAs vouch for a responder that has no
// key in DNS; oe accepts its certificate when it also names the
// destination (oe/certoe.go). certTrust is oe.CertTrust over a
// certs.Verifier, which oe does not import.

// certTrust checks OE responders' certificates.
type certTrust struct {
	v *certs.Verifier
	// cas name the ca-file bundle's CAs in our CERTREQ; empty for the
	// system roots (webpki), where a CERTREQ naming any CA is sent
	// rather than the hashes of some 140 roots.
	cas [][]byte
}

// loadCertTrust builds the trust of oe.trust_certificates; nil when off.
// webpki trusts the system's roots, ca-file the bundle oe.trust_ca. EKU
// serverAuth passes the certs package's check, as ACME certificates carry
// it.
func loadCertTrust(cfg config.OE, clk clock.Clock, log *slog.Logger) (*certTrust, error) {
	vc := certs.Config{Clock: clk, Logger: log}
	var cas [][]byte
	switch cfg.TrustCertificates {
	case "", "off":
		return nil, nil
	case "webpki":
		roots, err := certs.SystemRoots()
		if err != nil {
			return nil, fmt.Errorf("oe.trust_certificates webpki: %w", err)
		}
		vc.SystemRoots = roots
	case "ca-file":
		bundle, err := certs.LoadCABundle(cfg.TrustCA)
		if err != nil {
			return nil, fmt.Errorf("oe.trust_ca: %w", err)
		}
		vc.Roots = bundle
		for _, c := range bundle {
			cas = append(cas, ike.CAKeyHash(c))
		}
	default:
		return nil, fmt.Errorf("oe.trust_certificates %q: want off, webpki or ca-file", cfg.TrustCertificates)
	}
	v, err := certs.New(vc)
	if err != nil {
		return nil, fmt.Errorf("oe.trust_certificates %s: %w", cfg.TrustCertificates, err)
	}
	return &certTrust{v: v, cas: cas}, nil
}

// VerifyNamed implements oe.CertTrust: the chain must verify for the
// identity the responder claims (certs.Verifier.Verify), and its end
// entity must also name want (certs.MatchID: a SAN dNSName for a name, a
// SAN iPAddress for an address). Both refusals are *certs.VerifyError,
// whose reason the engine counts (id_mismatch for another name).
func (t *certTrust) VerifyNamed(ctx context.Context, chain [][]byte, claimed, want ike.Identity) (crypto.PublicKey, error) {
	res, err := t.v.Verify(ctx, chain, certs.ID{Type: certs.IDType(claimed.Type), Data: claimed.Data})
	if err != nil {
		return nil, err
	}
	if err := certs.MatchID(res.Cert, certs.ID{Type: certs.IDType(want.Type), Data: want.Data}); err != nil {
		return nil, fmt.Errorf("not a certificate of the destination: %w", err)
	}
	return res.PublicKey, nil
}

// Authorities implements oe.CertTrust.
func (t *certTrust) Authorities() [][]byte { return t.cas }

// checkCertTrust is `oemeshd check`'s part for oe.trust_certificates.
func checkCertTrust(out io.Writer, cfg config.OE) error {
	t, err := loadCertTrust(cfg, clock.System{}, slog.New(slog.DiscardHandler))
	if err != nil || t == nil {
		return err
	}
	switch cfg.TrustCertificates {
	case "webpki":
		fmt.Fprintf(out, "oe.trust_certificates: webpki: ok, the system's roots\n")
	default:
		fmt.Fprintf(out, "oe.trust_certificates: ca-file %s: ok, %d CAs\n", cfg.TrustCA, len(t.cas))
	}
	return nil
}
