package main

import (
	"fmt"
	"log/slog"

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

// dnsExemptions lists the DNS servers the daemon's resolver asks (the same
// entries startOE gives dnskey), each with where it was named; none when
// dns.exempt_servers is off.
func dnsExemptions(cfg *config.Config) ([]policygroups.Exemption, error) {
	if !cfg.DNS.ExemptServers {
		return nil, nil
	}
	return resolverExemptions(cfg)
}

// resolverExemptions is every DNS server the resolver asks as an
// exemption, whether or not dns.exempt_servers applies them.
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

// exemptionWarnings are --check-config's warnings about DNS servers that
// lie in a group that initiates OE: they are exempted, or, with
// dns.exempt_servers off, they will deadlock.
func exemptionWarnings(cfg *config.Config, pol *policygroups.Policy) []string {
	ex, err := resolverExemptions(cfg)
	if err != nil {
		return []string{fmt.Sprintf("cannot list the DNS servers (so none is exempted from OE): %v", err)}
	}
	_, done := pol.Exempt(ex)
	var out []string
	for _, e := range done {
		where := fmt.Sprintf("%s %s at %s", e.Overrides.Group, e.Overrides.Entry.Prefix, e.Overrides.SourceString())
		if cfg.DNS.ExemptServers {
			out = append(out, fmt.Sprintf("%s (%s) lies in %s: oemeshd will exempt it from OE (dns.exempt_servers), so our traffic to it goes clear",
				e.Addr, e.Reason, where))
		} else {
			out = append(out, fmt.Sprintf("%s (%s) lies in %s and dns.exempt_servers is off: key look-ups through it wait for OE to it, which needs a key look-up (the DNS deadlock); list it in clear or turn dns.exempt_servers on",
				e.Addr, e.Reason, where))
		}
	}
	return out
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
