package dnskey

import (
	"cmp"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

//go:generate go tool stringer -type=Source -linecomment

// Source says which kind of DNS record a key came from.
type Source uint8

// The record kinds, in the order used to break precedence ties:
// IPSECKEY (RFC 4025), TXT (RFC 4322 X-IPsec-Server), KEY (RFC 2535 KEY,
// protocol 4, as RFC 4322 uses it). The line comments are the names String
// gives.
const (
	SourceIPSECKEY Source = iota + 1 // IPSECKEY
	SourceTXT                        // TXT
	SourceKEY                        // KEY
)

// MarshalText makes Source print by name in JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Algorithm numbers the public-key algorithm, in the IANA IPSECKEY registry's
// numbering; TXT and KEY records, which hold RSA only, map to AlgorithmRSA.
type Algorithm uint8

// IPSECKEY algorithm numbers (IANA "IPSECKEY Resource Record Parameters").
const (
	AlgorithmNone  Algorithm = 0
	AlgorithmDSA   Algorithm = 1
	AlgorithmRSA   Algorithm = 2 // RFC 3110 key format
	AlgorithmECDSA Algorithm = 3 // RFC 6605 key format (x‖y), P-256 or P-384
	AlgorithmEdDSA Algorithm = 4 // RFC 8080 key format; only Ed25519 here
)

func (a Algorithm) String() string {
	switch a {
	case AlgorithmNone:
		return "none"
	case AlgorithmDSA:
		return "DSA"
	case AlgorithmRSA:
		return "RSA"
	case AlgorithmECDSA:
		return "ECDSA"
	case AlgorithmEdDSA:
		return "EdDSA"
	}
	return fmt.Sprintf("algorithm-%d", uint8(a))
}

// MarshalText makes Algorithm print by name in JSON.
func (a Algorithm) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// GatewayKind tells what a record's gateway field holds.
type GatewayKind uint8

const (
	// GatewayNone: the record's owner (the target itself) is its own gateway.
	GatewayNone GatewayKind = iota
	// GatewayAddr: an IPv4 or IPv6 address (IPSECKEY types 1 and 2, TXT address).
	GatewayAddr
	// GatewayName: a domain name (IPSECKEY type 3, TXT @fqdn). An initiator
	// cannot connect to it without another lookup (RFC 4322).
	GatewayName
)

// Gateway is the host that speaks IKE for a record's owner.
type Gateway struct {
	Kind GatewayKind
	Addr netip.Addr // when Kind == GatewayAddr
	Name string     // fully qualified, lower case, when Kind == GatewayName
}

func (g Gateway) String() string {
	switch g.Kind {
	case GatewayAddr:
		return g.Addr.String()
	case GatewayName:
		return "@" + g.Name
	}
	return "none"
}

// MarshalText prints the gateway as "none", an address or "@fqdn".
func (g Gateway) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// ParseGateway reads "none" (or ""), an IP address or "@fqdn".
func ParseGateway(s string) (Gateway, error) {
	switch {
	case s == "" || strings.EqualFold(s, "none") || s == ".":
		return Gateway{}, nil
	case strings.HasPrefix(s, "@"):
		name, err := canonicalName(s[1:])
		if err != nil {
			return Gateway{}, fmt.Errorf("gateway %q: %w", s, err)
		}
		return Gateway{Kind: GatewayName, Name: name}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Gateway{}, fmt.Errorf("gateway %q is neither an address nor @fqdn", s)
	}
	if a.Zone() != "" {
		return Gateway{}, fmt.Errorf("gateway %q: zoned addresses are not allowed", s)
	}
	if a.IsUnspecified() {
		return Gateway{}, fmt.Errorf("gateway %q is the unspecified address", s)
	}
	return Gateway{Kind: GatewayAddr, Addr: a.Unmap()}, nil
}

// NoPrecedence is the precedence given to KEY records, which carry none;
// they sort after every IPSECKEY and TXT record.
const NoPrecedence = 1 << 16

// PeerKey is one usable record: a public key and/or a gateway for an ID.
type PeerKey struct {
	// Name is the owner name the record was found at.
	Name   string
	Source Source
	// Precedence orders records, lower first (RFC 4025 §2.2, RFC 4322).
	Precedence int
	Gateway    Gateway
	Algorithm  Algorithm
	// PublicKey is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	// It is nil for a TXT record that names a gateway but carries no key:
	// such a record still delegates (see Resolver.Authorizes), and the key
	// must be looked up at the gateway's own ID.
	PublicKey crypto.PublicKey
	// TTL is what is left of the record's (clamped) lifetime when returned.
	TTL time.Duration
	// Secure is the AD bit of the answer the record came in.
	Secure bool
	// Record is the record in presentation format, for diagnostics.
	Record string
}

// Connectable reports whether an initiator can use the record directly: its
// gateway is an address, or none (the target itself). A record naming its
// gateway by domain name needs another lookup first (RFC 4322).
func (k PeerKey) Connectable() bool { return k.Gateway.Kind != GatewayName }

// Fingerprint is "SHA256:" and the unpadded standard base64 of the SHA-256
// of the key's DER SubjectPublicKeyInfo (the form ssh-keygen -l prints, over
// the X.509 encoding), or "" when there is no key.
func (k PeerKey) Fingerprint() string { return Fingerprint(k.PublicKey) }

// Fingerprint computes PeerKey.Fingerprint for any supported public key.
func Fingerprint(pub crypto.PublicKey) string {
	if pub == nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// SkippedRecord is a record that was found but not used, and why.
type SkippedRecord struct {
	Record string
	Reason string
}

// sortKeys orders by precedence, then IPSECKEY before TXT before KEY, then
// by record text so that the order never depends on the answer's order.
func sortKeys(keys []PeerKey) {
	slices.SortStableFunc(keys, func(a, b PeerKey) int {
		return cmp.Or(cmp.Compare(a.Precedence, b.Precedence),
			cmp.Compare(a.Source, b.Source),
			strings.Compare(a.Record, b.Record))
	})
}
