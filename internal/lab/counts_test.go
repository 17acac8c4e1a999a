package lab

import (
	"net/netip"
	"testing"
)

// TestCountsESPHoweverCarried: KindESP in Between and From counts raw ESP
// and ESP-in-UDP, once each; BareESP and KindESPinUDP keep them apart.
func TestCountsESPHoweverCarried(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	c := Counts{
		{a, b}: {KindESP: 2, KindESPinUDP: 3, KindICMP: 1},
		{b, a}: {KindESPinUDP: 5},
	}
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"From a→b ESP", c.From(a, b, KindESP), 5},
		{"From b→a ESP", c.From(b, a, KindESP), 5},
		{"Between ESP", c.Between(a, b, KindESP), 10},
		{"Between ESP-in-UDP", c.Between(a, b, KindESPinUDP), 8},
		{"BareESP", c.BareESP(a, b), 2},
		{"BareESP reversed", c.BareESP(b, a), 2},
		{"Between ICMP", c.Between(a, b, KindICMP), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestESPSPI reads the SPI of raw ESP and of ESP-in-UDP, so FirstESP
// sees either.
func TestESPSPI(t *testing.T) {
	ip4 := func(proto byte, payload ...byte) []byte {
		h := make([]byte, 20)
		h[0], h[9] = 0x45, proto
		return append(h, payload...)
	}
	if spi, ok := espSPI(ip4(50, 0xc0, 0, 0, 1, 0, 0, 0, 1), false); !ok || spi != 0xc0000001 {
		t.Errorf("raw ESP: %#x %v", spi, ok)
	}
	udp := []byte{0x11, 0x94, 0x11, 0x94, 0, 16, 0, 0, 0xc0, 0, 0, 2, 0, 0, 0, 1}
	if spi, ok := espSPI(ip4(17, udp...), true); !ok || spi != 0xc0000002 {
		t.Errorf("ESP-in-UDP: %#x %v", spi, ok)
	}
	if _, ok := espSPI(ip4(17, udp[:10]...), true); ok {
		t.Error("truncated ESP-in-UDP read")
	}
}
