package dnskey

import (
	"encoding/base64"
	"fmt"

	"github.com/miekg/dns"
)

// KEY record fields as RFC 4322 uses them (RFC 2535 §3.1).
const (
	keyProtocolIPsec = 4
	// keyFlagsIPsecHost is what FreeS/WAN's showhostkey published (0x4200):
	// not for confidentiality, name type "entity" (a host).
	keyFlagsIPsecHost = 0x4200
	keyFlagNoAuth     = 0x8000 // A/C bits 10 or 11: not usable for authentication
	keyFlagExtended   = 0x1000 // XT: extended flags follow (not supported)
	keyFlagsReserved  = 0x2CF0 // must be zero (FreeS/WAN's check)
)

// rsaKEYAlgorithms are the DNSSEC algorithm numbers whose key format is
// RFC 3110 RSA. FreeS/WAN published algorithm 1 (RSA/MD5).
var rsaKEYAlgorithms = map[uint8]bool{
	dns.RSAMD5: true, dns.RSASHA1: true, dns.RSASHA1NSEC3SHA1: true,
	dns.RSASHA256: true, dns.RSASHA512: true,
}

// ParseKEY turns a KEY record into a PeerKey after the RFC 4322 checks:
// protocol 4 (IPsec), an RSA algorithm, usable for authentication, no
// reserved or extended flags.
func ParseKEY(rr *dns.KEY) (PeerKey, error) {
	k := PeerKey{Source: SourceKEY, Precedence: NoPrecedence, Algorithm: AlgorithmRSA}
	if rr.Protocol != keyProtocolIPsec {
		return k, fmt.Errorf("KEY protocol %d is not IPsec (4)", rr.Protocol)
	}
	if !rsaKEYAlgorithms[rr.Algorithm] {
		return k, fmt.Errorf("KEY algorithm %d is not RSA", rr.Algorithm)
	}
	if rr.Flags&keyFlagNoAuth != 0 {
		return k, fmt.Errorf("KEY flags 0x%04x forbid authentication", rr.Flags)
	}
	if rr.Flags&keyFlagExtended != 0 {
		return k, fmt.Errorf("KEY flags 0x%04x announce extended flags, which are not supported", rr.Flags)
	}
	if rr.Flags&keyFlagsReserved != 0 {
		return k, fmt.Errorf("KEY flags 0x%04x set reserved bits (mask 0x%04x)", rr.Flags, keyFlagsReserved)
	}
	raw, err := base64.StdEncoding.DecodeString(rr.PublicKey)
	if err != nil {
		return k, fmt.Errorf("KEY public key is not base64: %w", err)
	}
	pub, err := ParseRSAKey(raw)
	if err != nil {
		return k, err
	}
	k.PublicKey = pub
	return k, nil
}
