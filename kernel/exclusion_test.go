package kernel

import (
	"net/netip"
	"testing"
)

func TestExclusionMatchesBothWays(t *testing.T) {
	a := netip.MustParseAddr
	x := Exclusion{Proto: 6, Local: netip.MustParsePrefix("192.0.2.0/24"), Remote: netip.MustParsePrefix("10.0.0.0/8"), RemotePort: 22}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"out to 22", x.Outbound(6, a("192.0.2.1"), a("10.1.1.1"), 40000, 22), true},
		{"out to 23", x.Outbound(6, a("192.0.2.1"), a("10.1.1.1"), 40000, 23), false},
		{"out udp", x.Outbound(17, a("192.0.2.1"), a("10.1.1.1"), 40000, 22), false},
		{"out from elsewhere", x.Outbound(6, a("198.51.100.1"), a("10.1.1.1"), 40000, 22), false},
		{"out to elsewhere", x.Outbound(6, a("192.0.2.1"), a("11.1.1.1"), 40000, 22), false},
		{"reply from 22", x.Inbound(6, a("10.1.1.1"), a("192.0.2.1"), 22, 40000), true},
		{"reply from 23", x.Inbound(6, a("10.1.1.1"), a("192.0.2.1"), 23, 40000), false},
		{"outbound read as inbound", x.Inbound(6, a("192.0.2.1"), a("10.1.1.1"), 40000, 22), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for _, bad := range []Exclusion{
		{Local: x.Local, Remote: x.Remote},
		{Proto: 6, Local: x.Local},
		{Proto: 6, Local: x.Local, Remote: netip.MustParsePrefix("::/0")},
	} {
		if bad.Check() == nil {
			t.Errorf("Check(%+v) = nil", bad)
		}
	}
	if err := x.Check(); err != nil {
		t.Errorf("Check(%+v): %v", x, err)
	}
}
