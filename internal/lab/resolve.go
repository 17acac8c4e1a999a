package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// StopFakeDNS stops the embedded DNS server, for a mesh whose DNS host
// serves real DNS at m.DNSAt instead (knotd and a validating unbound: the
// end-to-end tests' serveKnot). m.DNS becomes nil: Publish, SetSigned,
// GiveKey and ReplaceKeyInDNS cannot be used after.
func (m *Mesh) StopFakeDNS() error {
	if m.DNS == nil {
		return nil
	}
	err := m.DNS.Close()
	m.DNS = nil
	if err != nil {
		return fmt.Errorf("lab: stop the embedded DNS server: %w", err)
	}
	return nil
}

// Prefixes are the mesh's subnets: the LAN's and E's, IPv4 and IPv6.
func (m *Mesh) Prefixes() []netip.Prefix {
	return []netip.Prefix{meshLAN4, meshLAN6, meshE4, meshE6}
}

// HookArgs are the four arguments unbound's ipsecmod passes its hook
// (`oemesh dns hook QNAME TTL ADDRS IPSECKEYS`) for name, built from the
// answers host gets from its resolver (m.DNSAt) to an A and an IPSECKEY
// query: the name, the IPSECKEY RRset's TTL, the A answer's addresses and
// the IPSECKEY rdatas in presentation form, each list space-separated.
// Secure reports whether both answers carried the AD bit.
type HookArgs struct {
	QName, TTL, Addrs, IPSECKEYs string
	Secure                       bool
}

// Args is the argument list of `oemesh dns hook`.
func (h HookArgs) Args() []string {
	return []string{"dns", "hook", h.QName, h.TTL, h.Addrs, h.IPSECKEYs}
}

// ResolveForHook asks the mesh's resolver, from host's namespace, for
// name's A and IPSECKEY records, as unbound's ipsecmod does before it
// calls its hook, and returns the hook's arguments.
func (m *Mesh) ResolveForHook(ctx context.Context, host, name string) (HookArgs, error) {
	name = dns.Fqdn(name)
	a, err := m.Query(ctx, host, name, dns.TypeA)
	if err != nil {
		return HookArgs{}, err
	}
	k, err := m.Query(ctx, host, name, dns.TypeIPSECKEY)
	if err != nil {
		return HookArgs{}, err
	}
	h := HookArgs{QName: name, Secure: a.AuthenticatedData && k.AuthenticatedData}
	var addrs, keys []string
	for _, rr := range a.Answer {
		if r, ok := rr.(*dns.A); ok {
			addrs = append(addrs, r.A.String())
		}
	}
	for _, rr := range k.Answer {
		if r, ok := rr.(*dns.IPSECKEY); ok {
			// The rdata alone: the header is NAME TTL CLASS TYPE.
			keys = append(keys, strings.Join(strings.Fields(r.String())[4:], " "))
			h.TTL = fmt.Sprint(r.Hdr.Ttl)
		}
	}
	if len(addrs) == 0 || len(keys) == 0 {
		return h, fmt.Errorf("%s: %d addresses and %d IPSECKEY records in the answers; ipsecmod would not call its hook\n%v\n%v", name, len(addrs), len(keys), a, k)
	}
	h.Addrs, h.IPSECKEYs = strings.Join(addrs, " "), strings.Join(keys, " ")
	return h, nil
}

// Query sends one query with the DO bit, over TCP, from host's namespace
// to the mesh's resolver and returns its answer, whatever its rcode.
func (m *Mesh) Query(ctx context.Context, host, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, true)
	var r *dns.Msg
	err := m.Hosts[host].Node.Do(func() error {
		var err error
		r, _, err = (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).ExchangeContext(ctx, q, m.DNSAt.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s from %s to %s: %w", name, dns.TypeToString[qtype], host, m.DNSAt, err)
	}
	return r, nil
}
