package conn_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// BenchmarkConnForDst is the conn lookup every acquire and `policy
// explain` makes, with 200 routed conns beside a policy.
func BenchmarkConnForDst(b *testing.B) {
	o, _ := newTestStack(&testing.T{}, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(&testing.T{}))
	ctx := context.Background()
	o.OE().SetPolicy(ctx, oetest.MustPolicy(&testing.T{}, map[string]string{"private-or-clear": "10.0.0.0/8\n"}))
	for i := range 200 {
		c := conn.Conn{Mode: ike.ModeTunnel, Name: fmt.Sprintf("c%d", i), Local: gwA, Remote: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
			RemoteSubnets: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)}, Auth: ike.AuthKindPSK, Auto: "route"}
		if err := o.Conns().Add(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	dst := netip.MustParseAddr("10.150.3.4")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := o.Conns().For(dst); !ok {
			b.Fatal("no conn")
		}
	}
}

// BenchmarkConnsForPeer is the responder's search for a peer's conns.
func BenchmarkConnsForPeer(b *testing.B) {
	o, _ := newTestStack(&testing.T{}, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(&testing.T{}))
	ctx := context.Background()
	for i := range 200 {
		o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: fmt.Sprintf("rw%d", i), Local: gwA, RemoteID: ike.FQDNIdentity(fmt.Sprintf("rw%d.example", i)),
			LocalSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK})
	}
	id := ike.FQDNIdentity("rw150.example")
	peer := netip.MustParseAddr("203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		if o.Conns().ForPeer(peer, id) != 1 {
			b.Fatal("want one conn")
		}
	}
}
