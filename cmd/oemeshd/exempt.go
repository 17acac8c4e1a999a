package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/policygroups"
)

// The DNS deadlock: with a resolver inside a group that initiates OE, the
// daemon's own key look-up goes to that resolver, hits the trap, and
// starts a negotiation that needs a key look-up — it waits for itself
// until DNS times out, and the flow that started it all gets the failure
// shunt. So the servers the daemon asks are taken out of OE
// (dns.exempt_servers, on by default): they are put in clear-or-private,
// which lets our traffic to them go clear and still lets them start OE
// with us. docs/dns-exemption.md has the reasoning; in short:
//   - The whole address is exempted, not only port 53: the data planes
//     trap prefixes (kernel.Trap has no protocol or port), and their
//     port-specific pass is a failure shunt with a lifetime, owned by OE.
//   - The host's own addresses need no exemption: traffic from us to us
//     is routed by the local table, before any XFRM policy or our TUN
//     routes see it. On a gateway, traffic to the clients behind us
//     (oe.gateway_for) is never negotiated with either (oe: "no OE to our
//     own clients").
//   - The DNS stub's upstreams are dns.servers, so they are exempt too.
//   - dns.publish's UPDATEs go to the zone's primary: dns.publish.primary
//     is exempted when it is an address. One found at run time (the SOA
//     MNAME) or written as a name is not known at policy load, so it is
//     not; --check-config warns.

// dnsExemptions lists the DNS servers the daemon talks to, each with where
// it was named: those its resolver asks (the same entries startOE gives
// dnskey), then the primary its UPDATEs go to (dns.publish.primary); none
// when dns.exempt_servers is off. When the resolvers cannot be listed it
// still returns the primary, with the error.
func dnsExemptions(cfg *config.Config) ([]policygroups.Exemption, error) {
	if !cfg.DNS.ExemptServers {
		return nil, nil
	}
	return dnsServerExemptions(cfg)
}

// dnsServerExemptions is every DNS server dnsExemptions would exempt,
// whether or not dns.exempt_servers applies them.
func dnsServerExemptions(cfg *config.Config) ([]policygroups.Exemption, error) {
	ex, err := resolverExemptions(cfg)
	if p, ok := primaryExemption(cfg.DNS.Publish); ok {
		ex = append(ex, p)
	}
	return ex, err
}

// resolverExemptions is every DNS server the resolver asks, in order.
func resolverExemptions(cfg *config.Config) ([]policygroups.Exemption, error) {
	servers, err := dnskey.ServerList(cfg.DNS.Servers, "")
	if err != nil {
		return nil, err
	}
	out := make([]policygroups.Exemption, len(servers))
	for i, s := range servers {
		from := "dns.servers"
		if s.File != "" {
			from = s.File
		}
		out[i] = policygroups.Exemption{Addr: s.Addr.Addr(), Reason: "DNS server from " + from}
	}
	return out, nil
}

// primaryExemption is the configured primary of dns.publish, when
// publication is on and the primary is written as an address. A primary
// written as a name, or found at run time (the zone's SOA MNAME), is not
// known when the policy is loaded: it is not exempted
// (publicationWarnings says so).
func primaryExemption(p config.Publish) (policygroups.Exemption, bool) {
	a, ok := primaryAddr(p)
	if !ok {
		return policygroups.Exemption{}, false
	}
	return policygroups.Exemption{Addr: a, Reason: "DNS UPDATE primary from dns.publish.primary"}, true
}

// primaryAddr is dns.publish.primary's address ("ADDRESS" or
// "ADDRESS:PORT"), when publication is on and the primary is an address.
func primaryAddr(p config.Publish) (netip.Addr, bool) {
	if !p.Enabled() || p.Primary == "" {
		return netip.Addr{}, false
	}
	host := p.Primary
	if h, _, err := net.SplitHostPort(p.Primary); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// exemptionWarnings are --check-config's warnings about DNS servers that
// lie in a group that initiates OE: they are exempted, or, with
// dns.exempt_servers off, they will deadlock. A publication primary that
// cannot be exempted is warned about when the policy initiates OE at all.
func exemptionWarnings(cfg *config.Config, pol *policygroups.Policy) []string {
	var out []string
	ex, err := dnsServerExemptions(cfg)
	if err != nil {
		out = append(out, fmt.Sprintf("cannot list the DNS servers (so none is exempted from OE): %v", err))
	}
	_, done := pol.Exempt(ex)
	for _, e := range done {
		where := fmt.Sprintf("%s %s at %s", e.Overrides.Group, e.Overrides.Entry.Prefix, e.Overrides.SourceString())
		if cfg.DNS.ExemptServers {
			out = append(out, fmt.Sprintf("%s (%s) lies in %s: oemeshd will exempt it from OE (dns.exempt_servers), so our traffic to it goes clear",
				e.Addr, e.Reason, where))
		} else {
			out = append(out, fmt.Sprintf("%s (%s) lies in %s and dns.exempt_servers is off: our DNS traffic to it waits for OE to it, which needs a key look-up (the DNS deadlock); list it in clear or turn dns.exempt_servers on",
				e.Addr, e.Reason, where))
		}
	}
	return append(out, publicationWarnings(cfg.DNS.Publish, pol)...)
}

// publicationWarnings warn when dns.publish sends its UPDATEs to a primary
// oemeshd cannot exempt (a name, or each zone's SOA MNAME found at run
// time) while the policy initiates OE somewhere: if that primary lies
// there, publication deadlocks as a resolver would.
func publicationWarnings(p config.Publish, pol *policygroups.Policy) []string {
	if !p.Enabled() {
		return nil
	}
	if _, ok := primaryAddr(p); ok {
		return nil
	}
	n := pol.Count()
	if n[policygroups.PrivateOrClear]+n[policygroups.Private] == 0 {
		return nil
	}
	which := "the zone's primary is found at run time (SOA MNAME)"
	if p.Primary != "" {
		which = fmt.Sprintf("dns.publish.primary %q is a name", p.Primary)
	}
	return []string{fmt.Sprintf("dns.publish: %s, so oemeshd cannot exempt it from OE; if it lies in a group that initiates OE, UPDATEs to it wait for OE (the DNS deadlock): set dns.publish.primary to its address, or list it in clear", which)}
}

// exempt applies the exemptions to a freshly loaded policy and logs each
// one that took effect (at start and on every reload).
func exempt(log *slog.Logger, pol *policygroups.Policy, ex []policygroups.Exemption) *policygroups.Policy {
	pol, done := pol.Exempt(ex)
	for _, e := range done {
		log.Info("exempt from OE: our traffic to it passes in clear",
			"addr", e.Addr, "reason", e.Reason, "group", policygroups.ExemptGroup,
			"instead_of", e.Overrides.Group, "prefix", e.Overrides.Entry.Prefix, "source", e.Overrides.SourceString())
	}
	return pol
}
