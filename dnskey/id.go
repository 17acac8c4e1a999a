package dnskey

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// ID is an IKE identity as oemesh uses it in DNS: an IP address (looked up
// at its reverse name) or a fully qualified domain name, written "@fqdn".
type ID struct {
	Addr netip.Addr // valid for an address ID
	FQDN string     // fully qualified, lower case, for an @fqdn ID
}

// ParseID reads "198.18.0.2", "2001:db8::2" or "@host.example.".
func ParseID(s string) (ID, error) {
	if strings.HasPrefix(s, "@") {
		name, err := canonicalName(s[1:])
		if err != nil {
			return ID{}, fmt.Errorf("ID %q: %w", s, err)
		}
		return ID{FQDN: name}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ID{}, fmt.Errorf("ID %q is neither an IP address nor @fqdn", s)
	}
	if a.Zone() != "" || a.IsUnspecified() {
		return ID{}, fmt.Errorf("ID %q: zoned or unspecified address", s)
	}
	return ID{Addr: a.Unmap()}, nil
}

// AddrID is the ID of an address.
func AddrID(a netip.Addr) ID { return ID{Addr: a.Unmap()} }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return !id.Addr.IsValid() && id.FQDN == "" }

func (id ID) String() string {
	if id.Addr.IsValid() {
		return id.Addr.String()
	}
	if id.FQDN != "" {
		return "@" + id.FQDN
	}
	return "(none)"
}

// QueryName is the DNS name that holds id's records: the in-addr.arpa or
// ip6.arpa name of an address, or the FQDN itself.
func (id ID) QueryName() (string, error) {
	switch {
	case id.Addr.IsValid():
		return dns.ReverseAddr(id.Addr.String())
	case id.FQDN != "":
		return id.FQDN, nil
	}
	return "", errors.New("empty ID")
}

// matchesGateway reports whether gw designates id.
func (id ID) matchesGateway(gw Gateway) bool {
	switch gw.Kind {
	case GatewayAddr:
		return id.Addr.IsValid() && id.Addr == gw.Addr
	case GatewayName:
		return id.FQDN != "" && id.FQDN == gw.Name
	}
	return false
}

// canonicalName checks a domain name and returns it fully qualified and in
// lower case.
func canonicalName(s string) (string, error) {
	if s == "" || s == "." {
		return "", errors.New("empty domain name")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "", fmt.Errorf("%q has spaces, control or non-ASCII characters", s)
	}
	if _, ok := dns.IsDomainName(s); !ok {
		return "", fmt.Errorf("%q is not a valid domain name", s)
	}
	return strings.ToLower(dns.Fqdn(s)), nil
}
