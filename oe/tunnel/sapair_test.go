package tunnel

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
)

func childForInstall(mode ike.Mode) ike.ChildSA {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	return ike.ChildSA{SPIIn: 0x100, SPIOut: 0x200, Local: a, Remote: b, Mode: mode,
		TSLocal: []ike.TrafficSelector{ike.HostSelector(a)}, TSRemote: []ike.TrafficSelector{ike.HostSelector(b)},
		Encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}, EncrKeyIn: make([]byte, 36), EncrKeyOut: make([]byte, 36)}
}

// TestSAPairMode: ike's mode becomes the data plane's, and a CHILD SA
// without one is refused rather than installed in the data plane's default.
func TestSAPairMode(t *testing.T) {
	for in, want := range map[ike.Mode]kernel.Mode{ike.ModeTransport: kernel.ModeTransport, ike.ModeTunnel: kernel.ModeTunnel} {
		p, err := SAPair(childForInstall(in))
		if err != nil || p.Mode != want {
			t.Errorf("SAPair(%v) mode %v, %v; want %v", in, p.Mode, err, want)
		}
	}
	for _, m := range []ike.Mode{ike.ModeUnset, 7} {
		if _, err := SAPair(childForInstall(m)); err == nil || !strings.Contains(err.Error(), "mode") {
			t.Errorf("SAPair(%v): %v, want an error about the mode", m, err)
		}
	}
}
