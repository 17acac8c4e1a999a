package userspace

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsSARouteCoveredByTrap: a pair whose peer a trap into the TUN
// device covers adds and removes no route (no message to the kernel), and
// the peer is routed into the TUN device as soon as InstallSA returns; a
// peer under a clear trap nested in it gets its route; a trap set over a
// skipped peer that throws it, or the covering trap's removal, routes the
// peer first, so its traffic keeps entering the TUN device while its pair
// is installed; once every pair is gone the table holds the traps alone.
func TestNetnsSARouteCoveredByTrap(t *testing.T) {
	ns := netnstest.New(t, "rcv")
	nl := ns.Netlink(t)
	d := startDevice(t, ns, Config{})
	ctx := context.Background()
	rs := d.router.rs
	local := netip.MustParseAddr("192.0.2.1")
	pairTo := func(peer string, spi uint32) kernel.SAPair {
		pa, _ := testPairs(t, local, netip.MustParseAddr(peer), kernel.ModeTransport, kernel.AESGCM16, false)
		pa.In.SPI, pa.Out.SPI = spi, spi|0x800000
		return pa
	}
	intoTUN := func(addr, when string) {
		t.Helper()
		if out := ns.Run(t, "ip", "route", "get", addr); !strings.Contains(out, "dev "+d.TUNName()) {
			t.Fatalf("%s: %s is not routed into %s: %s", when, addr, d.TUNName(), out)
		}
	}
	routes := func() map[string]int { return tableRoutes(t, nl, d.cfg.Table) }
	install := func(sp kernel.SAPair) {
		t.Helper()
		if err := d.InstallSA(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	trap(t, d, netip.MustParsePrefix("10.0.0.0/8"), kernel.GroupPrivateOrClear)
	trap(t, d, netip.MustParsePrefix("10.1.0.0/16"), kernel.GroupClear)

	covered, nested, later := pairTo("10.2.3.4", 0x1001), pairTo("10.1.2.3", 0x1002), pairTo("10.3.3.3", 0x1003)
	msgs := rs.msgs
	install(covered)
	intoTUN("10.2.3.4", "right after InstallSA")
	if n := rs.msgs - msgs; n != 0 {
		t.Fatalf("a peer under a private-or-clear trap: %d route messages, want 0", n)
	}
	if _, ok := routes()["10.2.3.4/32"]; ok {
		t.Fatalf("a covered peer got a route of its own: %v", routes())
	}
	install(nested)
	intoTUN("10.1.2.3", "a peer under a clear trap, right after InstallSA")
	if got := routes()["10.1.2.3/32"]; got != unix.RTN_UNICAST {
		t.Fatalf("a peer under a clear trap: route type %d, want %d (all %v)", got, unix.RTN_UNICAST, routes())
	}

	// A clear trap over the covered peer: its route goes in first.
	trap(t, d, netip.MustParsePrefix("10.2.0.0/16"), kernel.GroupClear)
	intoTUN("10.2.3.4", "after a clear trap was set over it")
	intoTUN("10.1.2.3", "after a clear trap was set beside it")
	// The covering trap removed: the peer under it only is routed.
	install(later)
	if err := d.RemoveTrap(ctx, netip.MustParsePrefix("10.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	intoTUN("10.3.3.3", "after the trap covering it was removed")
	// A trap of the peer's own (private) over a skipped one: its route.
	trap(t, d, netip.MustParsePrefix("10.0.0.0/8"), kernel.GroupPrivate)
	skipped := pairTo("10.4.4.4", 0x1004)
	install(skipped)
	trap(t, d, netip.MustParsePrefix("10.4.4.4/32"), kernel.GroupClear)
	intoTUN("10.4.4.4", "after a clear trap of its own was set")

	for _, sp := range []kernel.SAPair{covered, nested, later, skipped} {
		if err := d.DeleteSA(ctx, sp.ID(), kernel.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"10.0.0.0/8": unix.RTN_UNICAST, "10.1.0.0/16": unix.RTN_THROW,
		"10.2.0.0/16": unix.RTN_THROW, "10.4.4.4/32": unix.RTN_THROW}
	got := routes()
	if len(got) != len(want) {
		t.Fatalf("after every pair went: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("after every pair went: %s type %d, want %d (all %v)", k, got[k], v, got)
		}
	}
	if len(d.saSkipped) != 0 || len(d.saRoutes) != 0 {
		t.Fatalf("counts left: skipped %v, routes %v", d.saSkipped, d.saRoutes)
	}
}
