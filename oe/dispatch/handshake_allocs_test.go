package dispatch_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
)

// TestResponderHooksAllocs counts what the dispatcher and the conns
// allocate for one handshake a conn answers as responder, outside the
// engine: the calls the engine makes, in its order, for a road warrior of
// a conn with remote %any (unique_ids off, as bench/ikeload drives
// oemeshd), from the key prefetch to the CHILD SA's install, hooks and
// deletion. The fake data plane's own allocations are in the count too.
// Each of these runs once or more per handshake, so an allocation here is
// one per handshake at least.
func TestResponderHooksAllocs(t *testing.T) {
	d, handshake := responderHooks(t)
	handshake() // the tables' first entries
	got := testing.AllocsPerRun(200, handshake)
	t.Logf("%.1f allocations a handshake outside the engine", got)
	if tunnels := d.Conns().List()[0].Tunnels; tunnels != 0 {
		t.Fatalf("%d tunnels left after the handshakes' deletions", tunnels)
	}
	if got > responderHooksAllocs {
		t.Errorf("%.1f allocations a handshake in the dispatcher, the conns and the fake data plane, want at most %d", got, responderHooksAllocs)
	}
}

// BenchmarkResponderHooks is TestResponderHooksAllocs's handshake, timed.
func BenchmarkResponderHooks(b *testing.B) {
	_, handshake := responderHooks(b)
	b.ReportAllocs()
	for b.Loop() {
		handshake()
	}
}

// responderHooks is a dispatcher with the road-warrior conn, and one
// handshake's calls from the engine, each from a new peer address.
func responderHooks(t testing.TB) (*dispatch.Dispatcher, func()) {
	d, _ := stack(t, oe.Config{}, &pipe{})
	ctx := context.Background()
	id := ike.FQDNIdentity("load.example")
	if err := d.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTransport, Name: "load", Local: gwA, RemoteID: id, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	local := []ike.TrafficSelector{ike.HostSelector(gwA)}
	n := 0 // peers, 198.18.0.0/16 in turn
	handshake := func() {
		n++
		peer := netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)}) // wraps after 65,536: each is gone by then
		remote := []ike.TrafficSelector{ike.HostSelector(peer)}
		d.PrefetchPeerKeys(peer)
		auth := ike.AuthRequest{Remote: peer, PeerID: id, Kind: ike.AuthKindPSK}
		if err := d.AcceptAuth(ctx, auth); err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Conns().LocalIDFor(id, peer, ike.Identity{}); ok {
			t.Fatal("a local ID from a conn without one")
		}
		dec, err := d.Child(ctx, ike.ChildRequest{Remote: peer, PeerID: id, Auth: ike.AuthKindPSK, TSi: remote, TSr: local, Transport: true})
		if err != nil {
			t.Fatal(err)
		}
		spi, err := d.AllocSPI(ctx, gwA, peer)
		if err != nil {
			t.Fatal(err)
		}
		sa := ike.ChildSA{SPIIn: spi, SPIOut: spi ^ 1, Local: gwA, Remote: peer, PeerID: id, PeerAuth: ike.AuthKindPSK, Mode: dec.Mode,
			TSLocal: dec.TSr, TSRemote: dec.TSi, Encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 128},
			EncrKeyIn: make([]byte, 20), EncrKeyOut: make([]byte, 20)}
		if err := d.Install(ctx, sa); err != nil {
			t.Fatal(err)
		}
		info := ike.ChildSAInfo{SPIIn: spi, SPIOut: sa.SPIOut, PeerID: id, TSLocal: sa.TSLocal, TSRemote: sa.TSRemote, Mode: sa.Mode}
		d.Conns().OnChildUp(info)
		if err := d.Delete(ctx, sa); err != nil {
			t.Fatal(err)
		}
		d.Conns().OnChildDown(info, nil)
	}
	return d, handshake
}

// responderHooksAllocs is the ceiling of TestResponderHooksAllocs: 36 on
// 2026-12-07, of which 16 are the info lines' arguments (tunnel up and
// down, conn up and down; 27 in all with main's quieter conn lines), 3
// the test's own and 1 the fake data plane's. Before the changes it pins
// (the key prefetch's conn search, the conns' list copied on every
// search, their host prefixes rebuilt, a selector split on math/big, a
// debug line's arguments, an identity key per index step): 75 at
// 24af14a, 66 with main's quieter conn lines (a9ee224).
const responderHooksAllocs = 40
