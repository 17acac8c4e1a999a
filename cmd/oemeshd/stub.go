package main

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/dnskey/stub"
	"github.com/oemesh/oemesh/policygroups"
)

// startStub serves the DNS stub (dns.stub.listen) until ctx ends; nil when
// it is off. Its upstreams are dns.servers as the key resolver reads them,
// so that what exempts those from OE also covers the stub's upstreams.
// What a look-up at a forward name finds goes into the binding store
// (dns.bindings.*), where OE finds it for the address (oe/bound.go);
// prestarts run after the look-up, so they use the binding, or the
// reverse name's key as an acquire does when the name had none. The
// look-up starts with the query (dns.stub.early_lookup), and a held
// answer (dns.stub.hold) waits for the prestarted negotiation.
func (d *daemon) startStub(ctx context.Context) (*stub.Stub, error) {
	dc := d.cfg.DNS
	if !dc.StubListen.IsValid() {
		return nil, nil
	}
	cfg := stub.Config{
		Listen:    dc.StubListen,
		Upstreams: d.resolver.Servers(),
		Timeout:   dc.Timeout,
		InOE:      d.inOE,
		Keys:      d.resolver,
		Logger:    d.log,
	}
	if d.bindings != nil {
		cfg.Binder = d.bindings
		cfg.BindNames = d.certOEClient()
	}
	if dc.Prestart {
		cfg.Prestart = d.prestart
		cfg.Hold = dc.StubHold
		cfg.AwaitTunnel = d.stack.AwaitNegotiation
	}
	cfg.EarlyLookup = dc.StubEarlyLookup
	s, err := stub.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dns.stub.listen: %w", err)
	}
	if err := s.Serve(ctx); err != nil {
		return nil, fmt.Errorf("dns.stub.listen: %w", err)
	}
	return s, nil
}

// inOE reports whether a falls in an OE group: the stub looks up, binds
// and prestarts only such addresses.
func (d *daemon) inOE(a netip.Addr) bool {
	switch d.oe.Policy().Group(a) {
	case policygroups.ClearOrPrivate, policygroups.PrivateOrClear, policygroups.Private:
		return true
	}
	return false
}

// prestart starts OE to a, from the address the routing table gives
// toward it (the one the application's first packet will carry).
func (d *daemon) prestart(ctx context.Context, a netip.Addr) bool {
	src, err := sourceFor(a)
	if err != nil {
		d.log.Debug("dns stub: no prestart: no source address", "addr", a, "err", err)
		return false
	}
	return d.stack.Prestart(ctx, src, a)
}

// stubCounts are the stub's counters by the names `oemesh status` shows
// them under (and the metrics' reason labels).
func stubCounts(s stub.Stats) map[string]uint64 {
	return map[string]uint64{
		"dns_stub_queries":        s.Queries,
		"dns_stub_forwarded":      s.Forwarded,
		"dns_stub_servfail":       s.ServFail,
		"dns_stub_lookups":        s.Lookups,
		"dns_stub_lookups_failed": s.LookupsFailed,
		"dns_stub_dropped":        s.Dropped,
		"dns_stub_bindings":       s.Bindings,
		"dns_stub_bind_failed":    s.BindFailed,
		"dns_stub_prestarts":      s.Prestarts,
		"dns_stub_early_lookups":  s.EarlyLookups,
		"dns_stub_early_wasted":   s.EarlyWasted,
		"dns_stub_early_skipped":  s.EarlySkipped,
		"dns_stub_held":           s.Held,
		"dns_stub_hold_timeouts":  s.HoldTimeouts,
	}
}
