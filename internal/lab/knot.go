package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/peers"
)

// ServeKnot replaces the mesh's in-process DNS server with real ones on
// its DNS host, as a site that publishes keys at forward names runs them:
//
//   - knotd, authoritative for zone (e.g. "example."), which it signs
//     itself (DNSSEC), and which accepts RFC 2136 UPDATEs signed with the
//     returned zone's TSIG key; it listens on the DNS host's IPv6 address,
//     which the zone's SOA names as its primary (ns.<zone> AAAA);
//   - a validating unbound in front of it (trust anchor: the zone's DS) on
//     the DNS host's IPv4 address, port 53: m.DNSAt, the dns.servers of
//     every host StartDaemon configures.
//
// There is no reverse zone at all: keys are found at forward names only.
// opts.Records, opts.Unsigned and opts.TTL say what the zone holds; the
// addresses are the mesh's. The fake server stops, and m.DNS becomes nil:
// Publish, SetSigned, GiveKey and ReplaceKeyInDNS cannot be used after.
// Call it before starting daemons; knotd and unbound stop when the test
// ends, before the mesh's namespaces go.
func (m *Mesh) ServeKnot(t testing.TB, zone string, opts peers.KnotOptions) *peers.KnotZone {
	t.Helper()
	if m.DNS != nil {
		if err := m.DNS.Close(); err != nil {
			t.Fatalf("stop the fake DNS server: %v", err)
		}
		m.DNS = nil
	}
	host := m.Hosts["dns"]
	opts.Addr, opts.ResolverAddr = host.Addr6, host.Addr4
	opts.ResolverClients = []netip.Prefix{meshLAN4, meshLAN6, meshE4, meshE6}
	return peers.ServeKnotZone(t, nil, host.Node.NSName, zone, opts)
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
