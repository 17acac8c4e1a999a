package main

// Revocation of peers' certificates (docs/certificates.md): certs.crls are
// consulted for every certificate oemeshd verifies, a cert conn's crl:
// adds its own, and the OCSP mode is the conn's ocsp:, or certs.ocsp. The
// CRL files are read at start and again on SIGHUP; a file that does not
// load then keeps the CRLs read before, and is logged.

import (
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
)

// revocation is the certs.* section, loaded. A nil *revocation is no
// global CRLs and OCSP off, as the defaults are.
type revocation struct {
	mu    sync.Mutex
	paths []string // certs.crls
	crls  []*x509.RevocationList
	ocsp  certs.OCSPMode
	// timeout bounds an OCSP request; client makes it (nil: the default
	// client; tests give one that reaches their responder).
	timeout time.Duration
	client  *http.Client
	clock   clock.Clock // nil: the system clock
	log     *slog.Logger
}

// newRevocation reads certs.crls and certs.ocsp; its errors name the key.
func newRevocation(cfg config.Certs, clk clock.Clock, log *slog.Logger) (*revocation, error) {
	mode, err := certs.ParseOCSPMode(cfg.OCSP)
	if err != nil {
		return nil, fmt.Errorf("certs.ocsp: %w", err)
	}
	crls, err := loadCRLs(cfg.CRLs)
	if err != nil {
		return nil, fmt.Errorf("certs.crls: %w", err)
	}
	return &revocation{paths: slices.Clone(cfg.CRLs), crls: crls, ocsp: mode, timeout: cfg.OCSPTimeout, clock: clk, log: log}, nil
}

// loadCRLs reads CRL files and directories (certs.LoadCRLs names the file
// of an error).
func loadCRLs(paths []string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, p := range paths {
		crls, err := certs.LoadCRLs(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, crls...)
	}
	return out, nil
}

// reload reads certs.crls again (SIGHUP). If one does not load, the CRLs
// read before stay, and the file and the reason are logged.
func (r *revocation) reload(log *slog.Logger) {
	if r == nil || len(r.paths) == 0 {
		return
	}
	crls, err := loadCRLs(r.paths)
	if err != nil {
		log.Error("SIGHUP: certs.crls not reloaded; keeping the CRLs in use", "err", err)
		return
	}
	r.mu.Lock()
	r.crls = crls
	r.mu.Unlock()
	log.Info("SIGHUP: certs.crls reloaded", "crls", len(crls), "paths", r.paths)
}

// mode is the OCSP mode of a conn whose ocsp: is s ("" for certs.ocsp).
// s was checked when the conn was read.
func (r *revocation) mode(s string) certs.OCSPMode {
	if s == "" {
		if r == nil {
			return certs.OCSPOff
		}
		return r.ocsp
	}
	m, _ := certs.ParseOCSPMode(s)
	return m
}

// verifierConfig is the certs.Config of a verifier that trusts roots and
// consults own and certs.crls, with OCSP mode.
func (r *revocation) verifierConfig(roots []*x509.Certificate, own []*x509.RevocationList, mode certs.OCSPMode) certs.Config {
	cfg := certs.Config{Roots: roots, CRLs: slices.Clone(own), OCSP: mode}
	if r == nil {
		return cfg
	}
	r.mu.Lock()
	cfg.CRLs = append(cfg.CRLs, r.crls...)
	r.mu.Unlock()
	cfg.HTTPClient, cfg.OCSPTimeout, cfg.Clock, cfg.Logger = r.client, r.timeout, r.clock, r.log
	return cfg
}

// checkRevocation is `oemeshd check`'s part for certs.*: it reads the CRLs
// as the daemon would, and says what it found.
func checkRevocation(out io.Writer, cfg config.Certs) error {
	r, err := newRevocation(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if len(cfg.CRLs) > 0 || r.ocsp != certs.OCSPOff {
		fmt.Fprintf(out, "certs: ok, %d CRLs from %d paths, OCSP %s\n", len(r.crls), len(cfg.CRLs), cfg.OCSP)
	}
	return nil
}
