package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
)

// Certificate OE, the client side (Libreswan's oe-letsencrypt-client):
// toward a destination with no usable key in DNS, we authenticate with
// NULL and ask the responder for a certificate (CERTREQ). We accept one
// that the trust store (oe.trust_certificates) vouches for and that names
// the destination: the forward name a look-up bound it to, when there is
// such a binding, else its address. Libreswan accepts any certificate its
// CAs signed; DNS-triggered OE knows which name the application asked
// for, and holds the server to it. Behind a NAT we ask for an address
// (CP), and again, NAT or not, when the responder answers that it
// requires one (FAILED_CP_REQUIRED, ike.ErrCPRequired); the data plane
// translates our traffic to the lease (kernel.CAT).

// CertTrust is what certificate OE checks a responder's certificate with.
// cmd/oemeshd implements it over certs.Verifier, which oe does not
// import.
type CertTrust interface {
	// VerifyNamed checks chain (DER, the end entity first) as
	// ike.CertVerifier does for the identity the responder claimed, and
	// also that the end entity names want (an ID_FQDN: a SAN dNSName;
	// an address: a SAN iPAddress). It returns the certificate's key. Its
	// errors should implement ike.CertFailureLabeler, whose label says
	// why ("id_mismatch" for another name).
	VerifyNamed(ctx context.Context, chain [][]byte, claimed, want ike.Identity) (crypto.PublicKey, error)
	// Authorities are the CAs our CERTREQ names (ike.CAKeyHash); empty
	// asks for a certificate of any CA.
	Authorities() [][]byte
}

// namedVerifier is the ike.CertVerifier of one certificate OE initiation:
// the trust store, held to the destination's name.
type namedVerifier struct {
	trust CertTrust
	want  ike.Identity
}

func (v namedVerifier) VerifyCert(ctx context.Context, chain [][]byte, peer ike.Identity) (crypto.PublicKey, error) {
	return v.trust.VerifyNamed(ctx, chain, peer, v.want)
}

// certName is the name a responder's certificate must hold: @name for a
// destination bound to a forward name, else the destination's address.
func certName(target netip.Addr, boundName string) ike.Identity {
	if boundName != "" {
		return ike.FQDNIdentity(strings.TrimSuffix(boundName, "."))
	}
	return ike.AddrIdentity(target)
}

// initiateCert runs certificate OE to the target: NULL for us, a
// certificate naming want for the responder, and an address of the
// target's family asked for when IKE_SA_INIT shows we are behind a NAT,
// or always (the responder said it requires one).
func (o *OE) initiateCert(ctx context.Context, n *negotiation, want ike.Identity, always bool) error {
	opts := o.initiateOptions(n, n.target, n.target)
	opts.Auth, opts.PeerAuth = ike.AuthKindNull, ike.AuthKindCert
	opts.PeerCertVerifier = namedVerifier{trust: o.cfg.CertTrust, want: want}
	opts.PeerCertAuthorities = o.cfg.CertTrust.Authorities()
	opts.RequestAddress = ike.AddressRequest{IPv4: n.target.Is4(), IPv6: n.target.Is6(), OnlyBehindNAT: !always}
	if always {
		// Every address of the family, narrowed by the responder to the
		// lease, in tunnel mode (ike.AddressRequest).
		opts.TSi, opts.Mode = nil, ike.ModeTunnel
	}
	o.log.Debug("OE: certificate OE", "target", n.target, "name", want.String(), "ask_address", always)
	_, err := o.engine.Initiate(ctx, opts)
	return err
}

// certFailure classifies a failed certificate OE attempt: the verifier's
// reason when it refused the certificate, for the failures counter and
// the shunt's reason; fallback reports whether the responder simply
// authenticated otherwise (no certificate at all), after which NULL OE
// may still be tried.
func certFailure(err error) (class string, fallback bool) {
	var l ike.CertFailureLabeler
	switch {
	case errors.As(err, &l):
		return "cert-" + l.MetricLabel(), false
	case errors.Is(err, ike.ErrPeerAuthMethod):
		return "cert-not-offered", true
	}
	return failureClass(err), false
}

// certOE runs certificate OE for a target without a usable DNS key, and
// NULL OE after it when the responder offered no certificate and
// oe.null_auth allows it. A certificate that is refused (another name,
// an unknown CA, expired) is a failure, never a reason to go on without
// authentication: the flow gets its group's failure shunt.
func (o *OE) certOE(ctx context.Context, n *negotiation, boundName string, succeed func(ike.AuthKind) Outcome, fail func(string, error) Outcome) Outcome {
	want := certName(n.target, boundName)
	err := o.initiateCert(ctx, n, want, false)
	if errors.Is(err, ike.ErrCPRequired) {
		// A modecfg server (Libreswan's with an address pool) serves
		// only clients that ask for an address, NAT or not: ask.
		o.log.Info("OE: the responder requires an address request: asking for one", "target", n.target)
		err = o.initiateCert(ctx, n, want, true)
	}
	if err == nil {
		return succeed(ike.AuthKindCert)
	}
	class, fallback := certFailure(err)
	if !fallback || o.cfg.NullAuth != NullFallback || ctx.Err() != nil {
		o.stats.fail(class)
		return fail(fmt.Sprintf("certificate OE to %s (a certificate for %s): %v", n.target, want, err), err)
	}
	o.log.Info("OE: the responder offered no certificate: trying NULL OE", "target", n.target, "err", err)
	nerr := o.initiate(ctx, n, n.target, n.target, ike.Identity{}, ike.AuthKindNull, nil)
	if nerr == nil {
		return succeed(ike.AuthKindNull)
	}
	o.stats.fail("no-key")
	return fail("no key in DNS, no certificate, and NULL OE failed: "+nerr.Error(), errors.Join(err, nerr))
}

// catFor is the address translation of a CHILD SA whose local selector
// is an address the responder assigned us (ike.ChildSA.VirtualIPs), in
// tunnel mode: our own address, the SA's outer source, is translated to
// it. nil for every other pair.
func catFor(sa ike.ChildSA, p kernel.SAPair) *kernel.CAT {
	if len(sa.VirtualIPs) == 0 || p.Mode != kernel.ModeTunnel || len(p.Local) != 1 || !p.Local[0].IsSingleIP() {
		return nil
	}
	leased := p.Local[0].Addr()
	if !slices.Contains(sa.VirtualIPs, leased) || leased == sa.Local {
		return nil
	}
	return &kernel.CAT{Host: sa.Local, Leased: leased}
}
