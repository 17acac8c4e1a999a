package publish

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// exchange sends m to server (HOST:PORT) and returns the answer.
type exchange func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error)

// findZone asks servers, in order, for the SOA of name and returns the
// zone that holds name (the SOA's owner) and the SOA's MNAME, the primary
// by RFC 2136 §4.3.
func findZone(ctx context.Context, ex exchange, servers []string, name string) (zone, mname string, err error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.CanonicalName(name), dns.TypeSOA)
	var errs []string
	for _, s := range servers {
		r, err := ex(ctx, q, s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Sprintf("%s: %s", s, dns.RcodeToString[r.Rcode]))
			continue
		}
		for _, rr := range append(r.Answer, r.Ns...) {
			if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, dns.CanonicalName(name)) {
				return dns.CanonicalName(soa.Hdr.Name), dns.CanonicalName(soa.Ns), nil
			}
		}
		errs = append(errs, fmt.Sprintf("%s: no SOA in the answer", s))
	}
	return "", "", fmt.Errorf("zone of %s: %s", name, strings.Join(errs, "; "))
}

// resolveHost turns the primary's name into HOST:PORT addresses through
// servers (A, then AAAA).
func resolveHost(ctx context.Context, ex exchange, servers []string, host string) ([]string, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		return []string{net.JoinHostPort(a.String(), "53")}, nil
	}
	var out []string
	var errs []string
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		q := new(dns.Msg)
		q.SetQuestion(dns.CanonicalName(host), t)
		for _, s := range servers {
			r, err := ex(ctx, q, s)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", dns.TypeToString[t], s, err))
				continue
			}
			for _, rr := range r.Answer {
				switch rr := rr.(type) {
				case *dns.A:
					out = append(out, net.JoinHostPort(rr.A.String(), "53"))
				case *dns.AAAA:
					out = append(out, net.JoinHostPort(rr.AAAA.String(), "53"))
				}
			}
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("address of the primary %s: none found%s", host, strings.Join(append([]string{""}, errs...), "; "))
	}
	return out, nil
}
