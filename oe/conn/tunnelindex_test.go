package conn

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

// TestTunnelIndex: the index finds a conn's tunnels by peer address and
// by identity (FQDNs alike when SameIdentity says so), forgets what is
// removed, and holds no key once its tunnels are gone, so that a conn
// that served many peers does not keep a bucket for each.
func TestTunnelIndex(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	rw, rwUpper := ike.FQDNIdentity("rw.example"), ike.FQDNIdentity("RW.Example.")
	other := ike.FQDNIdentity("other.example")
	tunnels := map[uint32]connTunnel{
		1: {peer: a, peerID: rw},
		2: {peer: a, peerID: other},
		3: {peer: b, peerID: rwUpper},
	}
	var x tunnelIndex
	for spi, tn := range tunnels {
		x.add(spi, tn)
	}
	sorted := func(s []uint32) []uint32 { return slices.Sorted(slices.Values(s)) }
	if got := sorted(x.withPeer(a)); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("withPeer(%s) = %v, want [1 2]", a, got)
	}
	if got := sorted(x.withID(rw)); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("withID(rw.example) = %v, want [1 3] (RW.Example. is the same ID)", got)
	}
	x.remove(1, tunnels[1])
	if got := x.withPeer(a); !slices.Equal(got, []uint32{2}) {
		t.Errorf("after removing 1, withPeer(%s) = %v, want [2]", a, got)
	}
	if got := x.withID(rwUpper); !slices.Equal(got, []uint32{3}) {
		t.Errorf("after removing 1, withID(RW.Example.) = %v, want [3]", got)
	}
	x.remove(1, tunnels[1]) // twice: no harm
	x.remove(2, tunnels[2])
	x.remove(3, tunnels[3])
	if len(x.byPeer) != 0 || len(x.byID) != 0 {
		t.Errorf("every tunnel removed, the index still holds %d peers and %d IDs", len(x.byPeer), len(x.byID))
	}
}
