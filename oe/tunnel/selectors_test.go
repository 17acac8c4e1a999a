package tunnel

import (
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

func TestRangePrefixes(t *testing.T) {
	for _, tc := range []struct {
		s, e string
		want []string
	}{
		{"198.18.0.1", "198.18.0.1", []string{"198.18.0.1/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"198.18.0.0", "198.18.1.255", []string{"198.18.0.0/23"}},
		{"198.18.0.1", "198.18.0.6", []string{"198.18.0.1/32", "198.18.0.2/31", "198.18.0.4/31", "198.18.0.6/32"}},
		{"2001:db8::", "2001:db8::ffff", []string{"2001:db8::/112"}},
	} {
		got := rangePrefixes(netip.MustParseAddr(tc.s), netip.MustParseAddr(tc.e))
		if len(got) != len(tc.want) {
			t.Errorf("%s-%s: %v, want %v", tc.s, tc.e, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].String() != tc.want[i] {
				t.Errorf("%s-%s: %v, want %v", tc.s, tc.e, got, tc.want)
			}
		}
	}
	if got := rangePrefixes(netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("198.18.0.1")); got != nil {
		t.Errorf("reversed range: %v", got)
	}
}

func TestSelectorRoundTrip(t *testing.T) {
	for _, s := range []string{"10.1.0.0/16", "198.18.0.1/32", "0.0.0.0/0", "2001:db8::/48"} {
		p := netip.MustParsePrefix(s)
		if got := Prefixes([]ike.TrafficSelector{Selector(p)}); len(got) != 1 || got[0] != p {
			t.Errorf("%s → %v", s, got)
		}
	}
}
