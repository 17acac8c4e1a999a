package userspace

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsSARoutesConcurrent: SA pairs installed, rekeyed and deleted
// from many goroutines at once (as the engine does under load), with
// traps set and removed on the same prefixes and SPIs allocated meanwhile,
// leave the kernel's table as the counts say: an installed pair's remote
// prefix routed into the TUN device, a prefix no pair uses any more back
// to its trap's route, or gone. InstallSA and DeleteSA add and remove
// those routes outside Device.mu (routeMu orders them): run it with -race.
func TestNetnsSARoutesConcurrent(t *testing.T) {
	ns := netnstest.New(t, "usrl")
	nl := ns.Netlink(t)
	d := startDevice(t, ns, Config{})
	ctx := context.Background()
	local := netip.MustParseAddr("192.0.2.1")
	const workers, peers, rounds = 6, 4, 5
	peer := func(w, i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(w*peers + i + 1)}) }
	// Workers 0 and 1 share their peers' prefixes: counts above one.
	shared := func(w int) int {
		if w == 1 {
			return 0
		}
		return w
	}
	pairOf := func(w, i, r int) kernel.SAPair {
		remote := peer(shared(w), i)
		alg := kernel.AESGCM16
		spi := uint32(0x10000 + w<<12 + i<<8 + r)
		in := kernel.SA{SPI: spi, Src: remote, Dst: local, AEAD: alg, Key: testKey(alg, byte(w))}
		out := kernel.SA{SPI: spi | 0x800000, Src: local, Dst: remote, AEAD: alg, Key: testKey(alg, byte(w+64))}
		return kernel.SAPair{In: in, Out: out, Mode: kernel.ModeTransport,
			Local: []netip.Prefix{host(local)}, Remote: []netip.Prefix{host(remote)}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*peers*rounds*2+64)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range peers {
					sp := pairOf(w, i, r)
					if err := d.InstallSA(ctx, sp); err != nil {
						errs <- fmt.Errorf("install %v round %d: %w", sp.Remote, r, err)
					}
					if r > 0 { // a rekey: the new pair first, then the old goes
						if err := d.DeleteSA(ctx, pairOf(w, i, r-1).ID(), kernel.DeleteOptions{}); err != nil {
							errs <- fmt.Errorf("delete %v round %d: %w", sp.Remote, r-1, err)
						}
					}
				}
			}
			// Workers 2 and up take their peers' last pairs down; 0 and 1 keep theirs.
			if w >= 2 {
				for i := range peers {
					if err := d.DeleteSA(ctx, pairOf(w, i, rounds-1).ID(), kernel.DeleteOptions{}); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	// Traps come and go on worker 2's and 3's prefixes meanwhile; worker 2's stay.
	wg.Go(func() {
		for r := range rounds * 2 {
			for i := range peers {
				for _, w := range []int{2, 3} {
					p := host(peer(w, i))
					if err := d.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernel.GroupClear}); err != nil {
						errs <- err
					}
					if w == 3 || r%2 == 1 && r != rounds*2-1 {
						if err := d.RemoveTrap(ctx, p); err != nil {
							errs <- err
						}
					}
				}
			}
		}
	})
	wg.Go(func() {
		for range 200 {
			if _, err := d.AllocSPI(ctx, local, peer(0, 0)); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := tableRoutes(t, nl, d.cfg.Table)
	for w := range workers {
		for i := range peers {
			p := host(peer(w, i)).String()
			switch {
			case w == 0: // workers 0 and 1 keep pairs to these
				if got[p] != unix.RTN_UNICAST {
					t.Errorf("%s: route type %d, want %d (into the TUN device: installed pairs)", p, got[p], unix.RTN_UNICAST)
				}
			case w == 2: // pairs gone, the clear trap stays
				if got[p] != unix.RTN_THROW {
					t.Errorf("%s: route type %d, want %d (its trap's)", p, got[p], unix.RTN_THROW)
				}
			case w == 1: // shares worker 0's prefixes
			default: // pairs gone, no trap
				if _, ok := got[p]; ok {
					t.Errorf("%s: route type %d left, want none", p, got[p])
				}
			}
		}
	}
	if s := d.Stats(); s.SAs != 2*peers {
		t.Errorf("%d SA pairs installed, want %d", s.SAs, 2*peers)
	}
}
