package oe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/policygroups"
)

// TestClearShunts: clearing one destination removes its shunts from oe
// and from the data plane and leaves the others; clearing all removes the
// rest; a shunt of a negotiation under way stays.
func TestClearShunts(t *testing.T) {
	o, dp := newTestOE(t, Config{NullAuth: NullOff}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	other := netip.MustParseAddr("198.18.0.77")
	busy := netip.MustParseAddr("198.18.0.78")
	for _, dst := range []netip.Addr{addrD, other, busy} {
		o.setShunt(ctx, hostFlow(addrA, dst), kernel.ShuntDrop, policygroups.Private, time.Hour, "test")
	}
	o.mu.Lock()
	o.negotiations[busy] = &negotiation{target: busy}
	o.mu.Unlock()

	got, err := o.ClearShunts(ctx, addrD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Flow.Dst != addrD || got[0].Kind != kernel.ShuntDrop {
		t.Fatalf("ClearShunts(%s) = %+v, want its one drop shunt", addrD, got)
	}
	if _, ok := oetest.ShuntFor(dp, addrD.String()); ok {
		t.Error("the cleared shunt is still in the data plane")
	}
	if _, ok := oetest.ShuntFor(dp, other.String()); !ok {
		t.Error("clearing one destination removed another's shunt")
	}
	if len(o.Shunts()) != 2 {
		t.Errorf("oe lists %d shunts after clearing one of 3", len(o.Shunts()))
	}

	got, err = o.ClearShunts(ctx, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Flow.Dst != other {
		t.Fatalf("ClearShunts(all) = %+v, want the shunt to %s only", got, other)
	}
	if _, ok := oetest.ShuntFor(dp, busy.String()); !ok {
		t.Error("the shunt of a negotiation under way was cleared")
	}
	if got, _ := o.ClearShunts(ctx, other); len(got) != 0 {
		t.Errorf("clearing again cleared %+v", got)
	}
}
