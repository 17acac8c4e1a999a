package policygroups

import (
	"net/netip"
	"testing"
)

func TestExempt(t *testing.T) {
	p, _, err := load(t, map[string]string{
		"private-or-clear": "192.0.2.0/24\n2001:db8::/32\n",
		"private":          "192.0.2.128/25\n192.0.2.200/32\n",
		"clear":            "192.0.2.1\n",
		"block":            "198.51.100.0/24\n",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const why = "DNS server from /etc/resolv.conf"
	a := netip.MustParseAddr
	q, done := p.Exempt([]Exemption{
		{a("192.0.2.53"), why},                    // private-or-clear: exempted
		{a("::ffff:192.0.2.53"), "second reason"}, // the same host again: ignored
		{a("192.0.2.200"), "dns.servers"},         // its own /32 in private: replaced
		{a("2001:db8::53"), "dns.servers"},        // IPv6
		{a("192.0.2.1"), why},                     // clear already: nothing to do
		{a("198.51.100.9"), why},                  // block: the administrator's
		{a("203.0.113.1"), why},                   // default (clear)
	})
	if len(done) != 3 {
		t.Fatalf("exempted %+v, want 192.0.2.53, 192.0.2.200, 2001:db8::53", done)
	}
	if done[0].Addr != a("192.0.2.53") || done[0].Reason != why || done[0].Overrides.Group != PrivateOrClear ||
		done[0].Overrides.Entry.Prefix != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("first exemption %+v", done[0])
	}
	if done[1].Overrides.Group != Private || done[1].Overrides.Entry.Prefix != netip.MustParsePrefix("192.0.2.200/32") {
		t.Errorf("second exemption overrides %+v, want private 192.0.2.200/32", done[1].Overrides)
	}
	for _, tc := range []struct {
		addr   string
		group  Group
		reason string
	}{
		{"192.0.2.53", ExemptGroup, why},
		{"192.0.2.200", ExemptGroup, "dns.servers"},
		{"2001:db8::53", ExemptGroup, "dns.servers"},
		{"192.0.2.54", PrivateOrClear, ""},
		{"192.0.2.201", Private, ""},
		{"192.0.2.1", Clear, ""},
		{"198.51.100.9", Block, ""},
	} {
		m := q.Lookup(a(tc.addr))
		if m.Group != tc.group || m.Entry.Exemption != tc.reason || q.Group(a(tc.addr)) != tc.group {
			t.Errorf("%s: %v %q, want %v %q", tc.addr, m.Group, m.Entry.Exemption, tc.group, tc.reason)
		}
		if tc.reason != "" {
			ex := m.Explain()
			if ex.Exemption != tc.reason || ex.Source != "oemeshd exemption" || ex.Prefix == nil || *ex.Prefix != tc.addr+"/"+map[bool]string{true: "32", false: "128"}[m.Addr.Is4()] {
				t.Errorf("%s explained as %+v", tc.addr, ex)
			}
		}
	}
	// The original is untouched, and the exempted policy differs from it by
	// exactly the exempted hosts: the data plane's traps follow that diff.
	if p.Group(a("192.0.2.53")) != PrivateOrClear || p.Len() != 6 {
		t.Errorf("Exempt changed its receiver: %v, %d prefixes", p.Group(a("192.0.2.53")), p.Len())
	}
	if q.Len() != 8 {
		t.Errorf("exempted policy has %d prefixes, want 8", q.Len())
	}
	d := Compare(p, q)
	if len(d.Added) != 2 || len(d.Changed) != 1 || len(d.Removed) != 0 {
		t.Errorf("diff %+v, want 2 added (the new hosts), 1 changed (192.0.2.200/32)", d)
	}
	for _, e := range d.Added {
		if e.Group != ExemptGroup || e.Exemption == "" {
			t.Errorf("added %+v", e)
		}
	}
	// Exempting the same hosts again is no change: a reload with the same
	// servers touches no trap.
	r, _ := p.Exempt([]Exemption{{a("192.0.2.53"), why}, {a("192.0.2.200"), "dns.servers"}, {a("2001:db8::53"), "dns.servers"}})
	if d := Compare(q, r); !d.Empty() {
		t.Errorf("same exemptions again: diff %+v", d)
	}
	if same, done := p.Exempt(nil); same != p || done != nil {
		t.Errorf("no exemptions: a new policy or %v", done)
	}
	if _, done := (*Policy)(nil).Exempt([]Exemption{{a("192.0.2.53"), why}}); done != nil {
		t.Errorf("empty policy: exempted %v (everything is clear)", done)
	}
}
