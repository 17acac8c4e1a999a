package e2e

import (
	"testing"

	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// serveKnot replaces the mesh's in-process DNS server with real ones on
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
// addresses are the mesh's. Call it before starting daemons; knotd and
// unbound stop when the test ends, before the mesh's namespaces go.
func serveKnot(t *testing.T, m *lab.Mesh, zone string, opts peers.KnotOptions) *peers.KnotZone {
	t.Helper()
	if err := m.StopFakeDNS(); err != nil {
		t.Fatal(err)
	}
	host := m.Hosts["dns"]
	opts.Addr, opts.ResolverAddr = host.Addr6, host.Addr4
	opts.ResolverClients = m.Prefixes()
	return peers.ServeKnotZone(t, nil, host.Node.NSName, zone, opts)
}
