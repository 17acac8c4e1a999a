package dnskey

import (
	"errors"
	"fmt"
)

// The two outcomes a caller must tell apart (RFC 4322 §3.2):
//
//   - ErrNoKey: DNS answered and there is no usable record (NXDOMAIN, NODATA,
//     only records that do not parse). An initiator falls back to clear at
//     once (private-or-clear) instead of waiting for an IKE timeout.
//   - ErrDNSFailure: DNS did not answer usefully (timeout, SERVFAIL, REFUSED,
//     a malformed response). Nothing is known about the peer; the failure
//     policy applies.
var (
	ErrNoKey      = errors.New("no key in DNS")
	ErrDNSFailure = errors.New("DNS lookup failed")
)

// ErrInsecure is returned when the only records found came in answers
// without the AD bit while DNSSEC is required. It wraps ErrNoKey: a zone
// that is not signed offers no trustworthy key, the same as none. (A signed
// zone whose answers were tampered with fails validation instead, which a
// validating resolver reports as SERVFAIL: ErrDNSFailure.)
var ErrInsecure = fmt.Errorf("records found but not DNSSEC-validated (no AD bit) while dns.require_dnssec is on: %w", ErrNoKey)
