package oe

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// A NULL peer we leased an address to (oe.address_pool, certificate OE)
// has its CHILD SA for that address, in tunnel mode, even though the
// address is not its own and is in no group; another address it does
// not hold is refused as before (a NULL peer cannot be a gateway).
func TestResponderAcceptsLeasedAddress(t *testing.T) {
	o, _ := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"clear-or-private": "198.18.0.0/16\n"}))
	leased := netip.MustParseAddr("100.64.0.7")
	req := ike.ChildRequest{PeerID: ike.NullIdentity(), Auth: ike.AuthKindNull, Remote: addrA, Local: addrB,
		TSi: []ike.TrafficSelector{ike.HostSelector(leased)}, TSr: []ike.TrafficSelector{ike.HostSelector(addrB)},
		Transport: true, Leased: []netip.Addr{leased}}
	dec, err := o.Child(ctx, req)
	if err != nil {
		t.Fatalf("leased address refused: %v", err)
	}
	if dec.Mode != ike.ModeTunnel || len(dec.TSi) != 1 || dec.TSi[0].Start != leased || dec.TSi[0].End != leased ||
		len(dec.TSr) != 1 || dec.TSr[0].Start != addrB {
		t.Errorf("decision %+v; want tunnel mode, %v === %v", dec, leased, addrB)
	}
	req.Leased = []netip.Addr{netip.MustParseAddr("100.64.0.8")}
	if _, err := o.Child(ctx, req); !errors.Is(err, errRefused) {
		t.Errorf("an address leased to nobody accepted: %v", err)
	}
}
