package xfrm

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestCheckPairRefusesUnsetMode: a pair that forgets its mode is refused
// before anything reaches the kernel, rather than installed in transport.
func TestCheckPairRefusesUnsetMode(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	pair := kernel.SAPair{
		In:  kernel.SA{SPI: 0x2001, Src: b, Dst: a, AEAD: kernel.AESGCM16, Key: make([]byte, 20)},
		Out: kernel.SA{SPI: 0x2002, Src: a, Dst: b, AEAD: kernel.AESGCM16, Key: make([]byte, 20)},
	}
	for _, m := range []kernel.Mode{kernel.ModeTransport, kernel.ModeTunnel} {
		p := pair
		p.Mode = m
		if err := checkPair(&p); err != nil {
			t.Errorf("%v pair refused: %v", m, err)
		}
	}
	for _, m := range []kernel.Mode{kernel.ModeUnset, 9} {
		p := pair
		p.Mode = m
		if err := checkPair(&p); err == nil || !strings.Contains(err.Error(), "mode is") {
			t.Errorf("pair with mode %d: %v, want refused for its mode", m, err)
		}
	}
}
