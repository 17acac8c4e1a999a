package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/crypto/ocsp"
)

// OCSPMode is whether and how strictly OCSP is consulted. Its zero value
// is OCSPOff.
type OCSPMode int

// The OCSP modes.
const (
	// OCSPOff never asks an OCSP responder.
	OCSPOff OCSPMode = iota
	// OCSPSoft asks the responders certificates name, refuses a revoked
	// certificate, and accepts one whose responder cannot be reached or
	// gives no usable answer (logging it). strongSwan's default.
	OCSPSoft
	// OCSPHard is OCSPSoft but refuses a certificate whose responder gives
	// no usable answer (RevocationUnknown). Certificates naming no
	// responder are still accepted: there is nobody to ask.
	OCSPHard
)

// ParseOCSPMode parses "off", "soft" or "hard", as configuration spells it.
func ParseOCSPMode(s string) (OCSPMode, error) {
	switch s {
	case "off", "":
		return OCSPOff, nil
	case "soft":
		return OCSPSoft, nil
	case "hard":
		return OCSPHard, nil
	}
	return 0, fmt.Errorf("OCSP mode %q: want off, soft or hard", s)
}

// ocspDefaultLifetime is how long a response without NextUpdate is cached.
const ocspDefaultLifetime = time.Hour

// ocspChecker asks OCSP responders and caches their answers until their
// NextUpdate.
type ocspChecker struct {
	mode    OCSPMode
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	cache   *lru.Cache[string, *ocsp.Response]
}

func newOCSPChecker(cfg Config) *ocspChecker {
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	timeout := cfg.OCSPTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	size := cfg.OCSPCacheSize
	if size <= 0 {
		size = 1024
	}
	cache, _ := lru.New[string, *ocsp.Response](size) // errors only for size <= 0
	return &ocspChecker{mode: cfg.OCSP, client: client, timeout: timeout, log: cfg.Logger, cache: cache}
}

// check asks about c (issued by issuer) and applies the mode.
func (o *ocspChecker) check(ctx context.Context, c, issuer *x509.Certificate, now time.Time) error {
	if len(c.OCSPServer) == 0 {
		return nil
	}
	resp, err := o.response(ctx, c, issuer, now)
	if err == nil {
		switch resp.Status {
		case ocsp.Good:
			return nil
		case ocsp.Revoked:
			return refuse(Revoked, c, nil, "revoked by OCSP (at %s, reason %d)", resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
		default:
			err = errors.New("the responder does not know the certificate")
		}
	}
	if o.mode == OCSPHard {
		return refuse(RevocationUnknown, c, err, "no usable OCSP answer from %v", c.OCSPServer)
	}
	o.log.Warn("OCSP soft-fail: accepting the certificate without an answer",
		"subject", c.Subject.String(), "serial", serialHex(c), "responders", c.OCSPServer, "err", err)
	return nil
}

// response is a fresh response for c, from the cache or the responders.
func (o *ocspChecker) response(ctx context.Context, c, issuer *x509.Certificate, now time.Time) (*ocsp.Response, error) {
	key := cacheKey(c, issuer)
	if r, ok := o.cache.Get(key); ok && fresh(r, now) {
		return r, nil
	}
	req, err := ocsp.CreateRequest(c, issuer, nil) // SHA-1 CertID, what responders expect
	if err != nil {
		return nil, fmt.Errorf("building the OCSP request: %w", err)
	}
	var errs []error
	for _, url := range c.OCSPServer {
		r, err := o.fetch(ctx, url, req, c, issuer)
		if err == nil && !fresh(r, now) {
			err = fmt.Errorf("%s: response not current (this update %s, next update %s)", url, r.ThisUpdate.UTC().Format(time.RFC3339), r.NextUpdate.UTC().Format(time.RFC3339))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.cache.Add(key, r)
		return r, nil
	}
	return nil, errors.Join(errs...)
}

func (o *ocspChecker) fetch(ctx context.Context, url string, req []byte, c, issuer *x509.Certificate) (*ocsp.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hresp, err := o.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", url, hresp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(hresp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	// ParseResponseForCert checks the signature: by the issuer, or by a
	// responder certificate the issuer signed for OCSP signing.
	r, err := ocsp.ParseResponseForCert(body, c, issuer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return r, nil
}

// fresh: issued no later than now (with five minutes of clock skew) and
// not past its NextUpdate (or an hour after ThisUpdate without one).
func fresh(r *ocsp.Response, now time.Time) bool {
	if r.ThisUpdate.After(now.Add(5 * time.Minute)) {
		return false
	}
	until := r.NextUpdate
	if until.IsZero() {
		until = r.ThisUpdate.Add(ocspDefaultLifetime)
	}
	return !now.After(until)
}

func cacheKey(c, issuer *x509.Certificate) string {
	h := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	return string(h[:]) + c.SerialNumber.String()
}
