package kernel

import (
	"net/netip"
	"testing"
)

func TestCATCheck(t *testing.T) {
	host, leased := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("100.64.0.1")
	lease := []netip.Prefix{netip.PrefixFrom(leased, 32)}
	for _, tc := range []struct {
		name  string
		c     CAT
		mode  Mode
		local []netip.Prefix
		ok    bool
	}{
		{"good", CAT{host, leased}, ModeTunnel, lease, true},
		{"transport", CAT{host, leased}, ModeTransport, lease, false},
		{"wider-local", CAT{host, leased}, ModeTunnel, []netip.Prefix{netip.MustParsePrefix("100.64.0.0/24")}, false},
		{"two-locals", CAT{host, leased}, ModeTunnel, append(lease, netip.MustParsePrefix("fd00::1/128")), false},
		{"family", CAT{netip.MustParseAddr("2001:db8::1"), leased}, ModeTunnel, lease, false},
		{"no-host", CAT{Leased: leased}, ModeTunnel, lease, false},
	} {
		if err := tc.c.Check(tc.mode, tc.local); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
