package conn_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/conn"
)

// TestIKETimerGoesWithItsTunnels: a conn with an IKE lifetime arms a timer
// for each IKE SA its tunnels come up under. A road-warrior conn serves
// one IKE SA after another; the timer of one whose tunnels have all gone
// must go too, not wait out the IKE lifetime (four hours by default) with
// every other: a busy responder held a timer for every IKE SA it had
// answered. A second tunnel under the same IKE SA keeps the timer until
// it goes as well, and the IKE SA of a tunnel still up keeps its own.
func TestIKETimerGoesWithItsTunnels(t *testing.T) {
	gw := newGateway(t, hubPort{&hub{m: map[netip.Addr]node{}}})
	rwID := ike.FQDNIdentity("rw.example")
	if err := gw.conns.Add(context.Background(), conn.Conn{Mode: ike.ModeTunnel, Name: "rw", Local: gwA, RemoteID: rwID,
		LocalSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK, IKELifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	spi := uint32(0x7f000000)
	up := func(n int, id ike.SAID) ike.ChildSAInfo {
		spi++
		info := gw.rwTunnel(spi, netip.AddrFrom4([4]byte{198, 19, byte(n >> 8), byte(n)}), id, rwID)
		gw.conns.OnChildUp(info)
		return info
	}
	down := func(info ike.ChildSAInfo) {
		gw.tunnels.Remove(info.SPIIn)
		gw.conns.OnChildDown(info, ike.ErrPeerDeleted)
	}
	timers := func(want int, when string) {
		t.Helper()
		if got := gw.conns.IKETimers("rw"); got != want {
			t.Fatalf("%s: %d IKE lifetime timers, want %d", when, got, want)
		}
	}
	said := func(i, r byte) ike.SAID { return ike.SAID{SPIi: ike.SPI{7: i}, SPIr: ike.SPI{7: r}} }
	keep := up(0, said(1, 1))
	timers(1, "one tunnel up")
	for i := range 50 {
		down(up(i+1, said(byte(100+i), 2)))
	}
	timers(1, "after 50 IKE SAs came and went beside one that stays")
	a := up(60, said(7, 7))
	b := up(61, said(7, 7))
	timers(2, "two tunnels under a second IKE SA")
	down(a)
	timers(2, "one of the second IKE SA's two tunnels gone")
	down(b)
	timers(1, "both gone")
	down(keep)
	timers(0, "no tunnel left")
}
