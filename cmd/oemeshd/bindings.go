package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
)

// The address → forward-name bindings (dnskey.Bindings) that name
// look-ups hand over: `oemesh dns hook` (unbound's ipsecmod) adds them,
// `oemesh dns bindings` lists them, OE uses them (oe.Config.Bindings).

func (d *daemon) registerBindingHandlers() {
	d.ctl.Handle("GET /v1/dns/bindings", d.handleBindings)
	d.ctl.Handle("POST /v1/dns/bindings", d.handleBind)
}

func (d *daemon) handleBindings(*http.Request) (any, error) {
	if d.bindings == nil {
		return nil, d.needOE()
	}
	return control.BindingList{
		Bindings: bindingsView(d.bindings.Bindings(), d.clock.Now()),
		Counters: bindingCountersView(d.bindings.Stats(), d.cfg.DNS.Bindings.Max),
	}, nil
}

func (d *daemon) handleBind(r *http.Request) (any, error) {
	if d.bindings == nil {
		return nil, d.needOE()
	}
	var req control.BindRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, control.BadRequest("bad request body: %v", err)
	}
	a, err := readBindRequest(req)
	if err != nil {
		return nil, control.BadRequest("bind: %v", err)
	}
	if d.cfg.DNS.RequireDNSSEC {
		// Nothing in the request says whether DNSSEC vouched for the
		// records (unbound hands insecure answers to its hook too), so
		// they count only as far as our own validated look-up agrees.
		res, lerr := d.resolver.Lookup(r.Context(), dnskey.ID{FQDN: a.name})
		if lerr != nil {
			return nil, control.BadRequest("bind %s: dns.require_dnssec is on and DNS does not vouch for its records: %v", a.name, lerr)
		}
		a.vouch(res)
	}
	if err := d.bindings.Bind(a.name, a.addrs, dnskey.Result{ID: dnskey.ID{FQDN: a.name}, Name: a.name, Keys: a.keys}, a.ttl); err != nil {
		return nil, control.BadRequest("%v%s", err, a.skippedSuffix())
	}
	d.log.Info("bound addresses to a forward name", "name", a.name, "addrs", a.addrs, "keys", len(a.keys),
		"skipped", len(a.skipped), "ttl", a.ttl)
	reply := control.BindReply{}
	for _, b := range d.bindings.Bindings() {
		if b.Name == a.name && slices.Contains(a.addrs, b.Addr) {
			reply.Bindings = append(reply.Bindings, bindingView(b, d.clock.Now()))
		}
	}
	for _, s := range a.skipped {
		reply.Skipped = append(reply.Skipped, control.SkippedRecord{Record: s.Record, Reason: s.Reason})
	}
	return reply, nil
}

// bindAnswer is a BindRequest read: what Bindings.Bind takes, and the
// records left out.
type bindAnswer struct {
	name    string
	addrs   []netip.Addr
	keys    []dnskey.PeerKey
	skipped []dnskey.SkippedRecord
	ttl     time.Duration
}

// readBindRequest checks a request's name and addresses and reads its
// IPSECKEY records with dnskey's rules. A record that does not parse is
// skipped with the reason; the request is refused only when none is
// usable or anything else is malformed.
func readBindRequest(req control.BindRequest) (bindAnswer, error) {
	id, err := dnskey.ParseID("@" + req.Name)
	if err != nil {
		return bindAnswer{}, fmt.Errorf("name: %w", err)
	}
	a := bindAnswer{name: id.FQDN, ttl: time.Duration(req.TTLSeconds) * time.Second}
	if len(req.Addrs) == 0 {
		return a, fmt.Errorf("%s: no addresses", a.name)
	}
	for _, s := range req.Addrs {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
			return a, fmt.Errorf("%s: %q is not an IPv4 or IPv6 address", a.name, s)
		}
		a.addrs = append(a.addrs, ip.Unmap())
	}
	if len(req.IPSECKEYs) == 0 {
		return a, fmt.Errorf("%s: no IPSECKEY records", a.name)
	}
	for _, rd := range req.IPSECKEYs {
		k, err := dnskey.ParseIPSECKEYRdata(a.name, rd)
		if err != nil {
			a.skipped = append(a.skipped, dnskey.SkippedRecord{Record: rd, Reason: err.Error()})
			continue
		}
		a.keys = append(a.keys, k)
	}
	if len(a.keys) == 0 {
		return a, fmt.Errorf("%s: no usable IPSECKEY record%s", a.name, a.skippedSuffix())
	}
	return a, nil
}

// vouch keeps the keys that res, a DNSSEC-validated look-up of the name,
// holds too (same key, same gateway), marked Secure; the others are
// skipped.
func (a *bindAnswer) vouch(res dnskey.Result) {
	var kept []dnskey.PeerKey
	for _, k := range a.keys {
		ok := slices.ContainsFunc(res.Keys, func(v dnskey.PeerKey) bool {
			return v.Secure && v.Gateway == k.Gateway && v.PublicKey != nil && v.Fingerprint() == k.Fingerprint()
		})
		if !ok {
			a.skipped = append(a.skipped, dnskey.SkippedRecord{Record: k.Record,
				Reason: "not in the DNSSEC-validated answer for " + a.name + " (dns.require_dnssec is on)"})
			continue
		}
		k.Secure = true
		kept = append(kept, k)
	}
	a.keys = kept
}

// skippedSuffix lists the skipped records and why, for an error.
func (a bindAnswer) skippedSuffix() string {
	s := ""
	for _, r := range a.skipped {
		s += fmt.Sprintf("; skipped %q: %s", r.Record, r.Reason)
	}
	return s
}

func bindingView(b dnskey.Binding, now time.Time) control.Binding {
	left := b.Expires.Sub(now)
	v := control.Binding{Addr: b.Addr.String(), Name: b.Name, Secure: b.Secure,
		ExpiresInSeconds: int64(left / time.Second), Keys: []control.PeerKey{}}
	for _, k := range b.Keys {
		k.TTL = left
		v.Keys = append(v.Keys, peerKeyView(k))
	}
	return v
}

func bindingsView(bs []dnskey.Binding, now time.Time) []control.Binding {
	out := make([]control.Binding, 0, len(bs))
	for _, b := range bs {
		out = append(out, bindingView(b, now))
	}
	return out
}

func bindingCountersView(s dnskey.BindingStats, max int) control.BindingCounters {
	return control.BindingCounters{Entries: s.Entries, Max: max, Added: s.Added, Replaced: s.Replaced,
		Expired: s.Expired, Evicted: s.Evicted, Hits: s.Hits, Misses: s.Misses}
}

// newBindings makes the binding store of dns.bindings.*.
func (d *daemon) newBindings() (*dnskey.Bindings, error) {
	b := d.cfg.DNS.Bindings
	// OE waits for a pending address (one the stub is looking up) as long
	// as one look-up attempt may take.
	// Certificate OE holds a keyless destination's certificate to the
	// name it was looked up by: such names are bound too.
	return dnskey.NewBindings(dnskey.BindingsConfig{Max: b.Max, MinTTL: b.MinTTL, MaxTTL: b.MaxTTL,
		PendingWait: d.cfg.DNS.Timeout, Clock: d.clock, NameOnly: d.certOEClient()})
}

// certOEClient reports whether oe.trust_certificates is on: certificate
// OE then needs the names of look-ups that found no key.
func (d *daemon) certOEClient() bool {
	t := d.cfg.OE.TrustCertificates
	return t != "" && t != "off"
}
