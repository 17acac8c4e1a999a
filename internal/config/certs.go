package config

import (
	"fmt"
	"strings"
	"time"
)

// Certs is the certs.* section: how peers' certificates are checked for
// revocation, wherever oemeshd verifies them.
type Certs struct {
	// CRLs are files or directories of CRLs, for every verifier; a
	// conn's crl: adds its own.
	CRLs []string
	// OCSP is off, soft or hard (certs.ParseOCSPMode reads it): the mode
	// of the conns that set none.
	OCSP        string
	OCSPTimeout time.Duration
}

// absPaths is a list of absolute paths (certs.crls).
func absPaths(v any) error {
	for _, s := range v.([]string) {
		if !strings.HasPrefix(s, "/") {
			return fmt.Errorf("%q must be an absolute path", s)
		}
	}
	return nil
}
