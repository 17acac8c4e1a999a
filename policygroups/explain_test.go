package policygroups

import (
	"net/netip"
	"testing"
)

func TestMatchExplain(t *testing.T) {
	p, _, err := load(t, map[string]string{"private": "\n192.0.2.0/24\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "192.0.2.0/24"
	for _, tc := range []struct {
		addr string
		want Explanation
	}{
		{"192.0.2.9", Explanation{Address: "192.0.2.9", Group: Private, Prefix: &prefix, Source: "/p/private:2"}},
		{"203.0.113.1", Explanation{Address: "203.0.113.1", Group: Clear, Source: "default"}},
	} {
		got := p.Lookup(netip.MustParseAddr(tc.addr)).Explain()
		if got.Address != tc.want.Address || got.Group != tc.want.Group || got.Source != tc.want.Source || got.Host != "" ||
			(got.Prefix == nil) != (tc.want.Prefix == nil) || (got.Prefix != nil && *got.Prefix != *tc.want.Prefix) {
			t.Errorf("%s: %+v, want %+v", tc.addr, got, tc.want)
		}
	}
}
