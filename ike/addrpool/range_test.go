package addrpool

import (
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last string
		size        uint64
	}{
		{"100.64.0.1-100.64.0.254", "100.64.0.1", "100.64.0.254", 254},
		{" 10.0.0.5 - 10.0.0.5 ", "10.0.0.5", "10.0.0.5", 1},
		{"100.64.0.0/24", "100.64.0.1", "100.64.0.254", 254},
		{"192.0.2.0/31", "192.0.2.0", "192.0.2.1", 2},
		{"192.0.2.9/32", "192.0.2.9", "192.0.2.9", 1},
		{"192.0.2.77", "192.0.2.77", "192.0.2.77", 1},
		{"fd00:64::/120", "fd00:64::1", "fd00:64::ff", 255},
		{"fd00:64::/64", "fd00:64::1", "fd00:64::ffff:ffff:ffff:ffff", math.MaxUint64},
		{"fd00::/48", "fd00::1", "fd00::ffff:ffff:ffff:ffff:ffff", math.MaxUint64},
		{"fd00::1-fd00::3", "fd00::1", "fd00::3", 3},
	} {
		r, err := ParseRange(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.First.String() != tc.first || r.Last.String() != tc.last || r.Size() != tc.size {
			t.Errorf("%q: got %v-%v size %d, want %s-%s size %d", tc.in, r.First, r.Last, r.Size(), tc.first, tc.last, tc.size)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"100.64.0.9-100.64.0.1", "100.64.0.9 comes after 100.64.0.1"},
		{"100.64.0.1-fd00::1", "different families"},
		{"0.0.0.0-0.0.0.9", "unspecified"},
		{"100.64.0.x-100.64.0.9", "first address"},
		{"100.64.0.1-", "last address"},
		{"100.64.0.0/33", "range \"100.64.0.0/33\""},
		{"pool", "want first-last, a prefix or an address"},
	} {
		_, err := ParseRange(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
	r, _ := ParseRange("100.64.0.1-100.64.0.3")
	if !r.Contains(netip.MustParseAddr("100.64.0.3")) || r.Contains(netip.MustParseAddr("100.64.0.4")) || r.Contains(netip.MustParseAddr("::ffff:100.64.0.9")) {
		t.Errorf("Contains wrong for %v", r)
	}
	if !r.Contains(netip.MustParseAddr("::ffff:100.64.0.2")) {
		t.Errorf("Contains refuses a v4-mapped address of %v", r)
	}
}
