package dnskey

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// RecordSpec describes the record a host publishes for itself (what
// `oemesh showhostkey` prints).
type RecordSpec struct {
	Name       string // owner name; made fully qualified
	TTL        uint32
	Precedence int
	Gateway    Gateway
	PublicKey  crypto.PublicKey
}

func (s RecordSpec) header(rrtype uint16) (dns.RR_Header, error) {
	name, err := canonicalName(s.Name)
	if err != nil {
		return dns.RR_Header{}, fmt.Errorf("record name: %w", err)
	}
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.TTL}, nil
}

// IPSECKEYRecord builds the RFC 4025 record for s. Its String() is a
// zone-file line that miekg/dns, nsd and knot accept.
func IPSECKEYRecord(s RecordSpec) (*dns.IPSECKEY, error) {
	hdr, err := s.header(dns.TypeIPSECKEY)
	if err != nil {
		return nil, err
	}
	if s.Precedence < 0 || s.Precedence > 255 {
		return nil, fmt.Errorf("IPSECKEY precedence %d is outside 0-255", s.Precedence)
	}
	alg, raw, err := MarshalPublicKey(s.PublicKey)
	if err != nil {
		return nil, err
	}
	rr := &dns.IPSECKEY{Hdr: hdr, Precedence: uint8(s.Precedence), Algorithm: uint8(alg),
		PublicKey: base64.StdEncoding.EncodeToString(raw)}
	switch s.Gateway.Kind {
	case GatewayNone:
		rr.GatewayType = dns.IPSECGatewayNone
	case GatewayAddr:
		rr.GatewayAddr = net.IP(s.Gateway.Addr.AsSlice())
		rr.GatewayType = dns.IPSECGatewayIPv6
		if s.Gateway.Addr.Is4() {
			rr.GatewayType = dns.IPSECGatewayIPv4
		}
	case GatewayName:
		rr.GatewayType = dns.IPSECGatewayHost
		rr.GatewayHost = s.Gateway.Name
	}
	return rr, nil
}

// TXTRecordRR builds the RFC 4322 X-IPsec-Server record for s; it needs a
// gateway and an RSA key (or no key at all).
func TXTRecordRR(s RecordSpec) (*dns.TXT, error) {
	hdr, err := s.header(dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	r := TXTRecord{Precedence: s.Precedence, Gateway: s.Gateway}
	if s.PublicKey != nil {
		k, ok := s.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("TXT X-IPsec-Server records carry RSA keys only (RFC 3110), not %T; publish an IPSECKEY record", s.PublicKey)
		}
		r.Key = k
	}
	strs, err := FormatTXT(r)
	if err != nil {
		return nil, err
	}
	return &dns.TXT{Hdr: hdr, Txt: strs}, nil
}

// KEYRecord builds the RFC 4322 KEY record (flags 0x4200, protocol 4,
// algorithm 1) for s; it needs an RSA key. The flags are written in
// decimal because miekg/dns refuses hex flags in zone files.
func KEYRecord(s RecordSpec) (*dns.KEY, error) {
	hdr, err := s.header(dns.TypeKEY)
	if err != nil {
		return nil, err
	}
	k, ok := s.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("KEY records carry RSA keys only (RFC 3110), not %T; publish an IPSECKEY record", s.PublicKey)
	}
	raw, err := MarshalRSAKey(k)
	if err != nil {
		return nil, err
	}
	rr := &dns.KEY{}
	rr.Hdr = hdr
	rr.Flags = keyFlagsIPsecHost
	rr.Protocol = keyProtocolIPsec
	rr.Algorithm = dns.RSAMD5
	rr.PublicKey = base64.StdEncoding.EncodeToString(raw)
	return rr, nil
}
