package publish

import (
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
)

// Spec is what a host publishes about itself.
type Spec struct {
	// Forward is the host's forward name ("b.example."); "" when nothing is
	// published there.
	Forward string
	// Addresses are the host's addresses: their reverse names get the
	// IPSECKEY when AtReverse; the forward name gets their A/AAAA when
	// AddressRecords.
	Addresses []netip.Addr
	// AtReverse and AtForward say where the IPSECKEY goes.
	AtReverse, AtForward bool
	// AddressRecords publishes A/AAAA at Forward.
	AddressRecords bool
	// TTL of every record, in seconds.
	TTL uint32
	// Precedence of the IPSECKEY records (RFC 4025); 10 is usual.
	Precedence int
}

// Check says what is missing or contradictory in s.
func (s Spec) Check() error {
	if !s.AtReverse && !s.AtForward && !s.AddressRecords {
		return errors.New("nothing to publish: choose the IPSECKEY at the reverse name, at the forward name, and/or A/AAAA records")
	}
	if (s.AtForward || s.AddressRecords) && s.Forward == "" {
		return errors.New("publishing at the forward name needs a forward name (dns.publish.name, or an @fqdn identity)")
	}
	if (s.AtReverse || s.AddressRecords) && len(s.Addresses) == 0 {
		return errors.New("publishing at the reverse name or A/AAAA records needs the host's addresses (dns.publish.addresses, or an address identity)")
	}
	if s.Forward != "" {
		if _, ok := dns.IsDomainName(s.Forward); !ok {
			return fmt.Errorf("forward name %q is not a domain name", s.Forward)
		}
	}
	if s.TTL == 0 {
		return errors.New("TTL 0 would make every peer look the key up again for each negotiation; use at least 1s")
	}
	return nil
}

// keyNames are the owner names that carry our IPSECKEY, fully qualified.
func (s Spec) keyNames() ([]string, error) {
	var names []string
	if s.AtForward {
		names = append(names, dns.CanonicalName(s.Forward))
	}
	if s.AtReverse {
		for _, a := range s.Addresses {
			n, err := dns.ReverseAddr(a.String())
			if err != nil {
				return nil, fmt.Errorf("reverse name of %s: %w", a, err)
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// ipseckeys builds the IPSECKEY records for keys at every key name.
func (s Spec) ipseckeys(keys []crypto.PublicKey) ([]dns.RR, error) {
	names, err := s.keyNames()
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for _, name := range names {
		for _, k := range keys {
			rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: s.TTL, Precedence: s.Precedence, PublicKey: k})
			if err != nil {
				return nil, fmt.Errorf("IPSECKEY at %s: %w", name, err)
			}
			out = append(out, rr)
		}
	}
	return out, nil
}

// addressRecords builds the A/AAAA records at the forward name.
func (s Spec) addressRecords() []dns.RR {
	if !s.AddressRecords {
		return nil
	}
	name := dns.CanonicalName(s.Forward)
	var out []dns.RR
	for _, a := range s.Addresses {
		a = a.Unmap()
		if a.Is4() {
			out = append(out, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: s.TTL}, A: a.AsSlice()})
		} else {
			out = append(out, &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: s.TTL}, AAAA: a.AsSlice()})
		}
	}
	return out
}

// rrsetHeads are one placeholder record per RRset we own (name and type
// only), for RemoveRRset.
func (s Spec) rrsetHeads() ([]dns.RR, error) {
	names, err := s.keyNames()
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for _, n := range names {
		out = append(out, &dns.ANY{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeIPSECKEY, Class: dns.ClassINET}})
	}
	if s.AddressRecords {
		n := dns.CanonicalName(s.Forward)
		out = append(out, &dns.ANY{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET}},
			&dns.ANY{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeAAAA, Class: dns.ClassINET}})
	}
	return out, nil
}

// FillFromIdentity applies the defaults an IKE identity gives: an @fqdn
// identity is the forward name when none is set, an address identity the
// address when none is set.
func (s *Spec) FillFromIdentity(identity string) {
	if name, ok := strings.CutPrefix(identity, "@"); ok {
		if s.Forward == "" {
			s.Forward = dns.CanonicalName(name)
		}
		return
	}
	if a, err := netip.ParseAddr(identity); err == nil && len(s.Addresses) == 0 {
		s.Addresses = []netip.Addr{a}
	}
}

// KeyNames are the owner names that carry our IPSECKEY.
func (s Spec) KeyNames() ([]string, error) { return s.keyNames() }
