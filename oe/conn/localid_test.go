package conn_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestConnOwnLocalID: each side's conn has its own local_id beside the
// daemon's identity (here the address): the initiator claims its conn's,
// and the responder, finding its conn by the peer's proven ID, claims that
// conn's, which the initiator requires (remote_id).
func TestConnOwnLocalID(t *testing.T) {
	west, east := ike.FQDNIdentity("west.example"), ike.FQDNIdentity("east.example")
	a, b, _, _ := pskPair(t, "", func(c *conn.Conn) { c.LocalID, c.RemoteID = west, east })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// B's conn office-b names the peer by address; give it IDs too.
	if err := b.Conns().Remove(ctx, "office-b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office-b", Local: gwB, Remote: gwA, LocalSubnets: []netip.Prefix{netB},
		RemoteSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK, LocalID: east, RemoteID: west}); err != nil {
		t.Fatal(err)
	}
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.OE().Tunnels(ctx)) == 1 })
	if sas := b.Engine().SAs(); len(sas) != 1 || !ike.SameIdentity(sas[0].PeerID, west) {
		t.Errorf("B's IKE SAs %+v, want one with west.example", sas)
	}
	if sas := a.Engine().SAs(); len(sas) != 1 || !ike.SameIdentity(sas[0].PeerID, east) {
		t.Errorf("A's IKE SAs %+v, want one with east.example", sas)
	}
}

func TestConnsLocalIDFor(t *testing.T) {
	o, _ := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	west, other := ike.FQDNIdentity("west.example"), ike.FQDNIdentity("other.example")
	rw := netip.MustParseAddr("203.0.113.5")
	for _, c := range []conn.Conn{
		{Name: "office", Local: gwA, Remote: gwB, RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, LocalID: west},
		{Name: "alice", Local: gwA, RemoteID: ike.FQDNIdentity("alice.example"), LocalSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPubkey},
		{Name: "bob", Local: gwA, RemoteID: ike.FQDNIdentity("bob.example"), LocalSubnets: []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}, Auth: ike.AuthKindPubkey, LocalID: other},
		{Name: "anyone", Local: gwA, LocalSubnets: []netip.Prefix{netip.MustParsePrefix("10.4.0.0/16")}, Auth: ike.AuthKindPubkey, LocalID: ike.FQDNIdentity("rw-gw.example")},
	} {
		c.Mode = ike.ModeTunnel
		if err := o.Conns().Add(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		peer      ike.Identity
		remote    netip.Addr
		idr, want ike.Identity
	}{
		{"the conn of the peer's address", ike.AddrIdentity(gwB), gwB, ike.Identity{}, west},
		{"the conn of the peer's ID", ike.FQDNIdentity("bob.example"), rw, ike.Identity{}, other},
		{"a conn without local_id: the daemon's", ike.FQDNIdentity("alice.example"), rw, ike.Identity{}, ike.Identity{}},
		{"no conn but the catch-all: the daemon's (OE)", ike.FQDNIdentity("stranger.example"), rw, ike.Identity{}, ike.Identity{}},
		{"the catch-all, named in IDr", ike.FQDNIdentity("stranger.example"), rw, ike.FQDNIdentity("rw-gw.example"), ike.FQDNIdentity("rw-gw.example")},
		{"an IDr naming another conn's local_id does not move bob", ike.FQDNIdentity("bob.example"), rw, west, other},
	} {
		got, ok := o.Conns().LocalIDFor(tc.peer, tc.remote, tc.idr)
		if ok != (tc.want.Type != 0) || !ike.SameIdentity(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, ok, tc.want)
		}
	}
}
