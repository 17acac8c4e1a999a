package udpmux

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPWildcardPktinfoReuse: a wildcard socket keeps the last source
// control message it built, for the next send from the same address. Sends
// from two addresses in turn must each leave from their own, and a run of
// sends from one must not build the message again (a responder sends three
// IKE messages a handshake from one address).
func TestUDPWildcardPktinfoReuse(t *testing.T) {
	b := serve(t, Config{Addrs: []netip.Addr{netip.IPv4Unspecified()}, NATTPort: -1}, newCollector().handle)
	bIKE, _ := b.LocalAddrs()
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := netip.MustParseAddrPort(peer.LocalAddr().String())
	buf := make([]byte, 100)
	for i, a := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.4", "127.0.0.3", "::ffff:127.0.0.4"} {
		local := netip.AddrPortFrom(netip.MustParseAddr(a), bIKE[0].Port())
		if err := b.Send(fakeIKE(byte(i)), local, to); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.AddrPortFrom(local.Addr().Unmap(), local.Port()); from != want {
			t.Errorf("send %d came from %v, want %v", i, from, want)
		}
	}
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), bIKE[0].Port())
	pkt := fakeIKE(7)
	n := testing.AllocsPerRun(50, func() {
		if err := b.Send(pkt, local, to); err != nil {
			t.Fatal(err)
		}
		peer.ReadFromUDPAddrPort(buf)
	})
	if n > 0 {
		t.Errorf("a send from a wildcard socket allocates %.1f times, want 0 (the control message reused)", n)
	}
}
