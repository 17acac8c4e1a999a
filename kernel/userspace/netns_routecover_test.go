package userspace

import (
	"context"
	"net/netip"
	"strings"
	"sync"
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

// TestNetnsSARouteCoveredConcurrent: pairs installed and deleted from
// several goroutines while the trap covering their peers and a clear trap
// nested in it come and go: at the end, every peer with a pair left is
// routed into the TUN device, and the peers without one are routed as
// the traps alone say. Run it with -race.
func TestNetnsSARouteCoveredConcurrent(t *testing.T) {
	ns := netnstest.New(t, "rcc")
	d := startDevice(t, ns, Config{})
	ctx := context.Background()
	local := netip.MustParseAddr("192.0.2.1")
	const workers, peers = 4, 8
	peer := func(w, i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(5 + i%2), byte(w), byte(i + 1)}) }
	pairOf := func(w, i, r int) kernel.SAPair {
		pa, _ := testPairs(t, local, peer(w, i), kernel.ModeTransport, kernel.AESGCM16, false)
		pa.In.SPI = uint32(0x100000 + w<<12 + i<<4 + r)
		pa.Out.SPI = pa.In.SPI | 0x800000
		return pa
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1024)
	for w := range workers {
		wg.Go(func() {
			for r := range 6 {
				for i := range peers {
					if err := d.InstallSA(ctx, pairOf(w, i, r)); err != nil {
						errs <- err
					}
					if r > 0 {
						if err := d.DeleteSA(ctx, pairOf(w, i, r-1).ID(), kernel.DeleteOptions{}); err != nil {
							errs <- err
						}
					}
				}
			}
			// Odd peers keep their last pair; even ones go.
			for i := 0; i < peers; i += 2 {
				if err := d.DeleteSA(ctx, pairOf(w, i, 5).ID(), kernel.DeleteOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		outer, inner := netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.5.0.0/16")
		for r := range 20 {
			if err := d.SetTrap(ctx, kernel.Trap{Prefix: outer, Group: kernel.GroupPrivateOrClear}); err != nil {
				errs <- err
			}
			if err := d.SetTrap(ctx, kernel.Trap{Prefix: inner, Group: kernel.GroupClear}); err != nil {
				errs <- err
			}
			if err := d.RemoveTrap(ctx, inner); err != nil {
				errs <- err
			}
			if r < 19 {
				if err := d.RemoveTrap(ctx, outer); err != nil {
					errs <- err
				}
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		for i := range peers {
			out := ns.Run(t, "ip", "route", "get", peer(w, i).String())
			// Every peer is under the private-or-clear trap at the end:
			// into the TUN device with a pair (its own route or the
			// trap's) and without.
			if !strings.Contains(out, "dev "+d.TUNName()) {
				t.Errorf("%s (pair left: %v): %s", peer(w, i), i%2 == 1, out)
			}
		}
	}
	// With the covering trap gone, the peers with a pair keep the TUN
	// device and the others fall to the main tables.
	if err := d.RemoveTrap(ctx, netip.MustParsePrefix("10.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		for i := range peers {
			b, _ := ns.Command(ctx, "ip", "route", "get", peer(w, i).String()).CombinedOutput()
			if in := strings.Contains(string(b), "dev "+d.TUNName()); in != (i%2 == 1) {
				t.Errorf("%s (pair left: %v) without the trap: %s", peer(w, i), i%2 == 1, b)
			}
		}
	}
	if got := len(d.saRoutes); got != workers*peers/2 {
		t.Errorf("%d selectors counted, want %d", got, workers*peers/2)
	}
}
