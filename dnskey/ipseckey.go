package dnskey

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// ParseIPSECKEY turns an IPSECKEY record (RFC 4025) into a PeerKey. Gateway
// types 0–3 and algorithms RSA (2), ECDSA (3) and EdDSA/Ed25519 (4) are
// understood; anything else is an error that says what.
func ParseIPSECKEY(rr *dns.IPSECKEY) (PeerKey, error) {
	k := PeerKey{Source: SourceIPSECKEY, Precedence: int(rr.Precedence), Algorithm: Algorithm(rr.Algorithm)}
	switch rr.GatewayType {
	case dns.IPSECGatewayNone:
	case dns.IPSECGatewayIPv4, dns.IPSECGatewayIPv6:
		a, ok := netip.AddrFromSlice(rr.GatewayAddr)
		if !ok {
			return k, fmt.Errorf("gateway type %d without a valid address", rr.GatewayType)
		}
		if rr.GatewayType == dns.IPSECGatewayIPv4 && !a.Unmap().Is4() {
			return k, fmt.Errorf("gateway type 1 (IPv4) holds %s", a)
		}
		if rr.GatewayType == dns.IPSECGatewayIPv6 && len(rr.GatewayAddr) != net.IPv6len {
			return k, fmt.Errorf("gateway type 2 (IPv6) holds %s", a)
		}
		if rr.GatewayType == dns.IPSECGatewayIPv4 {
			a = a.Unmap()
		}
		if a.IsUnspecified() {
			return k, fmt.Errorf("gateway %s is the unspecified address", a)
		}
		k.Gateway = Gateway{Kind: GatewayAddr, Addr: a}
	case dns.IPSECGatewayHost:
		name, err := canonicalName(rr.GatewayHost)
		if err != nil {
			return k, fmt.Errorf("gateway type 3: %w", err)
		}
		k.Gateway = Gateway{Kind: GatewayName, Name: name}
	default:
		return k, fmt.Errorf("unknown gateway type %d (RFC 4025 defines 0-3)", rr.GatewayType)
	}
	if rr.PublicKey == "" {
		return k, fmt.Errorf("no public key (algorithm %s)", k.Algorithm)
	}
	raw, err := base64.StdEncoding.DecodeString(rr.PublicKey)
	if err != nil {
		return k, fmt.Errorf("public key is not base64: %w", err)
	}
	pub, err := ParsePublicKey(k.Algorithm, raw)
	if err != nil {
		return k, err
	}
	k.PublicKey = pub
	return k, nil
}
