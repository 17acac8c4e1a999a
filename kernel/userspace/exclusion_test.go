package userspace

import (
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestTablesExcluded: the classifier's exclusion check matches the
// protocol after IPv6 extension headers and the ports, and a snapshot
// with exclusions leaves the one before it alone.
func TestTablesExcluded(t *testing.T) {
	base := buildTables(nil, nil, nil)
	x := kernel.Exclusion{Proto: 6, Local: netip.MustParsePrefix("::/0"), Remote: netip.MustParsePrefix("2001:db8::/32"), RemotePort: 22}
	tb := base.withExclusions([]kernel.Exclusion{x})
	pkt := func(l4 uint8, dst string, dport uint16) *ipPacket {
		return &ipPacket{v6: true, src: netip.MustParseAddr("2001:db8:1::1"), dst: netip.MustParseAddr(dst), proto: 0, l4proto: l4, sport: 40000, dport: dport}
	}
	for _, tc := range []struct {
		ip   *ipPacket
		want bool
	}{
		{pkt(6, "2001:db8::2", 22), true},
		{pkt(6, "2001:db8::2", 80), false},
		{pkt(58, "2001:db8::2", 22), false},
		{pkt(6, "2001:db9::2", 22), false},
	} {
		if got := tb.excluded(tc.ip); got != tc.want {
			t.Errorf("%+v: excluded %v, want %v", *tc.ip, got, tc.want)
		}
	}
	if base.excluded(pkt(6, "2001:db8::2", 22)) {
		t.Errorf("the snapshot before the exclusions excludes")
	}
}
