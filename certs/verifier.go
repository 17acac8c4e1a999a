package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
)

// Config is what a Verifier trusts and how it checks revocation. Each
// configured conn, and OE, has its own.
type Config struct {
	// Roots are the trust anchors from a CA bundle (LoadCABundle).
	Roots []*x509.Certificate
	// SystemRoots adds the system's trust anchors (SystemRoots()), as
	// certificate OE with oe.trust_certificates: webpki does.
	SystemRoots *x509.CertPool
	// Intermediates are CA certificates configured locally, used to build
	// chains beside those the peer sends; they are not trusted by
	// themselves.
	Intermediates []*x509.Certificate
	// CRLs are consulted for every certificate of the chain whose issuer
	// signed one (crl.go).
	CRLs []*x509.RevocationList
	// OCSP is the OCSP mode; the zero value is OCSPOff.
	OCSP OCSPMode
	// HTTPClient fetches OCSP responses; nil is http.DefaultClient. Tests
	// give one that reaches an in-process responder.
	HTTPClient *http.Client
	// OCSPTimeout bounds one OCSP fetch; zero is 5 seconds.
	OCSPTimeout time.Duration
	// OCSPCacheSize bounds the OCSP response cache; zero is 1024 entries.
	OCSPCacheSize int
	// AnyEKU accepts any extended key usage, as strongSwan does; by default
	// the RFC 4945 profile that Libreswan applies is enforced (usage.go).
	AnyEKU bool
	// Clock gives the time at which validity is checked; nil is the
	// system clock.
	Clock clock.Clock
	// Logger logs OCSP failures that soft-fail; nil is slog.Default().
	Logger *slog.Logger
}

// Verifier checks peers' certificate chains. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	roots *x509.CertPool
	inter []*x509.Certificate
	ocsp  *ocspChecker
}

// New builds a Verifier. It needs at least one trust anchor.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Roots) == 0 && cfg.SystemRoots == nil {
		return nil, errors.New("certificate verifier: no trust anchors: configure a CA bundle or the system roots")
	}
	if cfg.OCSP < OCSPOff || cfg.OCSP > OCSPHard {
		return nil, fmt.Errorf("certificate verifier: unknown OCSP mode %d", cfg.OCSP)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	roots := x509.NewCertPool()
	if cfg.SystemRoots != nil {
		roots = cfg.SystemRoots.Clone()
	}
	for _, c := range cfg.Roots {
		roots.AddCert(c)
	}
	v := &Verifier{cfg: cfg, roots: roots, inter: cfg.Intermediates}
	if cfg.OCSP != OCSPOff {
		v.ocsp = newOCSPChecker(cfg)
	}
	return v, nil
}

// MaxChain is the most certificates Verify accepts from a peer: more is a
// denial of service, not a PKI.
const MaxChain = 16

// Verify checks a peer's chain (DER, the end entity first, as its CERT
// payloads carried it) and that id is one of the end entity's names. In
// order: parsing; a path to a trust anchor through the peer's and the
// configured intermediates, every certificate valid at the clock's time
// (crypto/x509); the end entity's key usage and extended key usage
// (usage.go); revocation of every certificate but the anchor, by CRL and
// then OCSP (crl.go, ocsp.go); and the ID (MatchID). Any failure is a
// *VerifyError.
//
// ctx bounds OCSP fetches.
func (v *Verifier) Verify(ctx context.Context, chain [][]byte, id ID) (*Result, error) {
	if len(chain) == 0 {
		return nil, refuse(NoCertificate, nil, nil, "the peer sent no certificate")
	}
	if len(chain) > MaxChain {
		return nil, refuse(BadChain, nil, nil, "the peer sent %d certificates, more than %d", len(chain), MaxChain)
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, refuse(Malformed, nil, err, "certificate %d of %d does not parse", i+1, len(chain))
		}
		certs[i] = c
	}
	ee := certs[0]
	now := v.cfg.Clock.Now()
	path, err := v.buildChain(ee, certs[1:], now)
	if err != nil {
		return nil, err
	}
	if err := v.checkUsage(ee); err != nil {
		return nil, err
	}
	if err := v.checkRevocation(ctx, path, now); err != nil {
		return nil, err
	}
	if err := MatchID(ee, id); err != nil {
		return nil, err
	}
	return newResult(path), nil
}

// buildChain finds a verified path from ee to a root and maps
// crypto/x509's errors onto Reasons.
func (v *Verifier) buildChain(ee *x509.Certificate, fromPeer []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	// Validity is checked first, for the end entity, so that an expired
	// certificate says so rather than "no chain".
	if err := checkValidity(ee, now); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range fromPeer {
		inter.AddCert(c)
	}
	for _, c := range v.inter {
		inter.AddCert(c)
	}
	chains, err := ee.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: inter,
		CurrentTime:   now,
		// EKU is checked by checkUsage, on the end entity only, as IKE
		// implementations do: Go's check would also demand it of CAs.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return chains[0], nil
	}
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv):
		c := inv.Cert
		if c == nil {
			c = ee
		}
		switch inv.Reason {
		case x509.Expired:
			if vErr := checkValidity(c, now); vErr != nil {
				return nil, vErr
			}
			return nil, refuse(Expired, c, err, "not valid at %s", now.UTC().Format(time.RFC3339))
		case x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
			return nil, refuse(NameConstraints, ee, err, "a CA's constraints exclude it")
		}
		return nil, refuse(BadChain, c, err, "invalid chain")
	case errors.As(err, &unk):
		return nil, refuse(UnknownCA, ee, err, "issuer %q is not trusted and no chain leads to a trusted CA", ee.Issuer)
	}
	return nil, refuse(BadChain, ee, err, "no valid chain")
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return refuse(NotYetValid, c, nil, "valid from %s, it is %s", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return refuse(Expired, c, nil, "expired at %s, it is %s", c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}
