package policygroups

import (
	"maps"
	"net/netip"
	"testing"
)

func TestConnFor(t *testing.T) {
	pol := build([]Entry{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Group: Private},
		{Prefix: netip.MustParsePrefix("10.1.2.0/24"), Group: Clear},
	})
	conns := map[string]netip.Prefix{
		"wide":   netip.MustParsePrefix("0.0.0.0/0"),
		"subnet": netip.MustParsePrefix("10.1.0.0/16"),
		"equal":  netip.MustParsePrefix("10.1.2.0/24"),
	}
	// Each conn has one subnet: yield name → prefix.
	seq := func(names ...string) func(func(string, netip.Prefix) bool) {
		return func(yield func(string, netip.Prefix) bool) {
			for _, n := range names {
				if !yield(n, conns[n]) {
					return
				}
			}
		}
	}
	all := []string{"wide", "subnet", "equal"}
	tests := []struct {
		addr  string
		names []string
		want  string // "" when the groups decide
	}{
		{"10.1.9.9", all, "subnet"},             // /16 beats the group's /8
		{"10.1.2.3", all, "equal"},              // a tie goes to the conn
		{"10.1.2.3", []string{"subnet"}, ""},    // the group's /24 beats the /16
		{"10.9.9.9", []string{"wide"}, ""},      // the group's /8 beats the conn's /0
		{"192.0.2.1", []string{"wide"}, "wide"}, // no group: any conn
		{"192.0.2.1", []string{"subnet"}, ""},   // no conn holds it
		{"10.1.9.9", []string{"equal", "subnet", "wide"}, "subnet"},
	}
	for _, tt := range tests {
		m := pol.Lookup(netip.MustParseAddr(tt.addr))
		name, p, ok := ConnFor(m, seq(tt.names...))
		if name != tt.want || ok != (tt.want != "") || (ok && p != conns[tt.want]) {
			t.Errorf("%s among %v: %q %v %v, want %q", tt.addr, tt.names, name, p, ok, tt.want)
		}
	}
	// maps.All is a Seq2 too.
	if name, _, ok := ConnFor(pol.Lookup(netip.MustParseAddr("10.1.9.9")), maps.All(conns)); !ok || name != "subnet" {
		t.Errorf("over a map: %q %v, want subnet", name, ok)
	}
}
