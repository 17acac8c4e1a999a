package dispatch_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestPrestartRouting: a prestart toward a conn's remote subnet is left
// to the conn (nothing starts), one toward a policy group goes to OE.
func TestPrestartRouting(t *testing.T) {
	d, _ := stack(t, oe.Config{}, discardSender{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := d.OE().SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "10.0.0.0/8\n"})); err != nil {
		t.Fatal(err)
	}
	if err := d.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, Auto: "route", KeyingTries: 1}); err != nil {
		t.Fatal(err)
	}
	if d.Prestart(ctx, netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7")) {
		t.Error("prestarted OE toward a conn's remote subnet")
	}
	if st := d.Conns().List()[0]; st.State == conn.StateNegotiating || d.Conns().Stats().Acquires != 0 {
		t.Errorf("the conn after a prestart toward it: %+v; want it untouched", st)
	}
	if !d.Prestart(ctx, gwA, netip.MustParseAddr("10.5.0.7")) {
		t.Error("no OE prestart toward private-or-clear")
	}
}
