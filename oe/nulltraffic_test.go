package oe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// lastTraffic, the NULL caps' measure of use, is the latest packet
// through the tunnels of exactly that IKE SA with exactly that peer.
func TestLastTrafficOfNullSA(t *testing.T) {
	o, dp := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	peer, other := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")
	ikeA := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}
	ikeB := ike.SAID{SPIi: ike.SPI{3}, SPIr: ike.SPI{4}}
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	add := func(id ike.SAID, remote netip.Addr, spiIn uint32, last time.Time) {
		t.Helper()
		pair := kernel.SAPair{Mode: kernel.ModeTransport,
			In:  kernel.SA{SPI: spiIn, Src: remote, Dst: netip.MustParseAddr("198.51.100.1")},
			Out: kernel.SA{SPI: spiIn + 1, Src: netip.MustParseAddr("198.51.100.1"), Dst: remote}}
		if err := dp.InstallSA(t.Context(), pair); err != nil {
			t.Fatal(err)
		}
		dp.SetCounters(pair.ID(), kernel.Counters{LastUse: last})
		o.tunnels.Add(base, ike.ChildSA{IKESPIi: id.SPIi, IKESPIr: id.SPIr, SPIIn: spiIn, SPIOut: spiIn + 1}, pair.ID(), "")
	}
	add(ikeA, peer, 0x1000, base.Add(time.Minute))
	add(ikeA, peer, 0x2000, base.Add(3*time.Minute)) // a second CHILD SA: the latest counts
	add(ikeB, peer, 0x3000, base.Add(time.Hour))     // another IKE SA to the same peer
	add(ikeA, other, 0x4000, base.Add(time.Hour))    // same SPIs, another peer
	if got, want := o.lastTraffic(ikeA, peer), base.Add(3*time.Minute); !got.Equal(want) {
		t.Errorf("lastTraffic = %v, want %v", got, want)
	}
	if got := o.lastTraffic(ike.SAID{SPIi: ike.SPI{9}}, peer); !got.IsZero() {
		t.Errorf("lastTraffic of an IKE SA without tunnels = %v, want zero", got)
	}
}
