package addrpool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

func owner(n byte) Owner { return Owner{SPIi: [8]byte{n}, SPIr: [8]byte{0, n}} }

func mustPool(t *testing.T, ranges ...string) *Pool {
	t.Helper()
	p, err := Parse(ranges, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func acquire(t *testing.T, p *Pool, req Request) netip.Addr {
	t.Helper()
	a, err := p.Acquire(req)
	if err != nil {
		t.Fatalf("Acquire(%+v): %v", req, err)
	}
	return a
}

func TestAcquireInOrderAndExhaustion(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.2", "100.64.1.1")
	var got []string
	for i := byte(1); i <= 3; i++ {
		got = append(got, acquire(t, p, Request{Owner: owner(i)}).String())
	}
	if strings.Join(got, " ") != "100.64.0.1 100.64.0.2 100.64.1.1" {
		t.Errorf("leased %v", got)
	}
	_, err := p.Acquire(Request{Owner: owner(4), Peer: "x"})
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("fourth lease: %v, want ErrExhausted", err)
	}
	if want := "all 3 leased"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := p.Acquire(Request{Owner: owner(4), IPv6: true}); !errors.Is(err, ErrNoRange) {
		t.Errorf("IPv6 from an IPv4 pool: %v, want ErrNoRange", err)
	}
	s := p.Stats()
	if s.SizeIPv4 != 3 || s.Online != 3 || s.Acquired != 3 || s.Exhausted != 1 {
		t.Errorf("stats %+v", s)
	}
	// Released, the address is free for the next peer.
	if rel := p.Release(owner(2)); len(rel) != 1 || rel[0].String() != "100.64.0.2" {
		t.Fatalf("Release = %v", rel)
	}
	if a := acquire(t, p, Request{Owner: owner(4)}); a.String() != "100.64.0.2" {
		t.Errorf("after release got %v, want 100.64.0.2", a)
	}
}

func TestAcquireIsIdempotentPerOwnerAndFamily(t *testing.T) {
	p := mustPool(t, "100.64.0.0/30", "fd00:64::/126")
	a := acquire(t, p, Request{Owner: owner(1)})
	if b := acquire(t, p, Request{Owner: owner(1)}); a != b {
		t.Errorf("same owner got %v then %v", a, b)
	}
	v6 := acquire(t, p, Request{Owner: owner(1), IPv6: true})
	if !v6.Is6() || v6.String() != "fd00:64::1" {
		t.Errorf("IPv6 lease %v", v6)
	}
	if rel := p.Release(owner(1)); len(rel) != 2 {
		t.Errorf("Release gave back %v, want both families", rel)
	}
	if rel := p.Release(owner(1)); len(rel) != 0 {
		t.Errorf("second Release gave back %v", rel)
	}
}

func TestSamePeerGetsItsAddressBack(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.3")
	alice := acquire(t, p, Request{Owner: owner(1), Peer: "alice"})
	bob := acquire(t, p, Request{Owner: owner(2), Peer: "bob"})
	p.Release(owner(1))
	p.Release(owner(2))
	// Carol gets the never-used address, not one remembered for alice or bob.
	if c := acquire(t, p, Request{Owner: owner(3), Peer: "carol"}); c.String() != "100.64.0.3" {
		t.Errorf("carol got %v, want the unused 100.64.0.3", c)
	}
	if b := acquire(t, p, Request{Owner: owner(4), Peer: "bob"}); b != bob {
		t.Errorf("bob came back to %v, want his %v", b, bob)
	}
	if a := acquire(t, p, Request{Owner: owner(5), Peer: "alice"}); a != alice {
		t.Errorf("alice came back to %v, want her %v", a, alice)
	}
	if s := p.Stats(); s.Reused != 2 || s.Released != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestRememberedAddressesGoWhenThePoolIsFull(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.2")
	acquire(t, p, Request{Owner: owner(1), Peer: "alice"})
	acquire(t, p, Request{Owner: owner(2), Peer: "bob"})
	p.Release(owner(1))
	p.Release(owner(2))
	// Only remembered addresses are left: the oldest released goes.
	if d := acquire(t, p, Request{Owner: owner(3), Peer: "dave"}); d.String() != "100.64.0.1" {
		t.Errorf("dave got %v, want alice's old 100.64.0.1", d)
	}
	// Alice's memory is gone with it; she gets what is free.
	if a := acquire(t, p, Request{Owner: owner(4), Peer: "alice"}); a.String() != "100.64.0.2" {
		t.Errorf("alice got %v, want 100.64.0.2", a)
	}
}

func TestAnonymousPeersAreNotRemembered(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.2")
	a := acquire(t, p, Request{Owner: owner(1)})
	p.Release(owner(1))
	if s := p.Stats(); s.Remembered != 0 {
		t.Errorf("an anonymous release is remembered: %+v", s)
	}
	acquire(t, p, Request{Owner: owner(2), Peer: "bob"})
	// The pool is used up to its end; the anonymous address is reused
	// before a remembered one would be.
	if b := acquire(t, p, Request{Owner: owner(3)}); b != a {
		t.Errorf("got %v, want the anonymously released %v", b, a)
	}
}

func TestHint(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.3")
	want := netip.MustParseAddr("100.64.0.2")
	if a := acquire(t, p, Request{Owner: owner(1), Hint: want}); a != want {
		t.Errorf("hint %v gave %v", want, a)
	}
	// The cursor skips the hinted address.
	if a := acquire(t, p, Request{Owner: owner(2)}); a.String() != "100.64.0.1" {
		t.Errorf("got %v", a)
	}
	if a := acquire(t, p, Request{Owner: owner(3), Hint: want}); a.String() != "100.64.0.3" {
		t.Errorf("a leased hint gave %v, want the next free 100.64.0.3", a)
	}
	if _, err := p.Acquire(Request{Owner: owner(4)}); !errors.Is(err, ErrExhausted) {
		t.Errorf("pool should be full: %v", err)
	}
	p.Release(owner(3))
	// A hint outside the pool is ignored.
	if a := acquire(t, p, Request{Owner: owner(5), Hint: netip.MustParseAddr("10.9.9.9")}); a.String() != "100.64.0.3" {
		t.Errorf("outside hint gave %v", a)
	}
}

func TestMoveAndLeases(t *testing.T) {
	clk := clocktest.NewAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	p, err := Parse([]string{"100.64.0.0/29"}, clk)
	if err != nil {
		t.Fatal(err)
	}
	a := acquire(t, p, Request{Owner: owner(1), Peer: "alice"})
	p.Move(owner(1), owner(9))
	if rel := p.Release(owner(1)); len(rel) != 0 {
		t.Errorf("the old SA still held %v", rel)
	}
	ls := p.Leases()
	if len(ls) != 1 || ls[0].Addr != a || ls[0].Owner != owner(9) || ls[0].Peer != "alice" || !ls[0].Since.Equal(clk.Now()) {
		t.Errorf("leases %+v", ls)
	}
	if rel := p.Release(owner(9)); len(rel) != 1 || rel[0] != a {
		t.Errorf("the new SA released %v, want %v", rel, a)
	}
}

func TestNewRefusesBadRanges(t *testing.T) {
	if _, err := Parse([]string{"100.64.0.0/24", "100.64.0.100-100.64.1.5"}, nil); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlap: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("an empty pool was accepted")
	}
	if _, err := New(Config{Ranges: []Range{{First: netip.MustParseAddr("10.0.0.1")}}}); err == nil {
		t.Error("a range without a last address was accepted")
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	p := mustPool(t, "100.64.0.0/26") // 62 addresses
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[netip.Addr]Owner{}
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				o := Owner{SPIi: [8]byte{byte(g)}, SPIr: [8]byte{byte(i)}}
				a, err := p.Acquire(Request{Owner: o, Peer: fmt.Sprint("peer", g)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := seen[a]; dup {
					errs <- fmt.Errorf("%v leased to %v and %v", a, prev, o)
				}
				seen[a] = o
				mu.Unlock()
				mu.Lock()
				delete(seen, a)
				mu.Unlock()
				p.Release(o)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := p.Stats(); s.Online != 0 || s.Acquired != 1600 || s.Released != 1600 {
		t.Errorf("stats %+v", s)
	}
}

// A peer that moves to a new address is no longer remembered for its old
// one, which then goes to others before addresses still remembered.
func TestNewAddressForgetsTheOld(t *testing.T) {
	p := mustPool(t, "100.64.0.1-100.64.0.3")
	acquire(t, p, Request{Owner: owner(1), Peer: "alice"}) // .1
	acquire(t, p, Request{Owner: owner(2), Peer: "bob"})   // .2
	p.Release(owner(1))
	p.Release(owner(2))
	// Alice, asking for .3, moves there: .1 is remembered for no one.
	if a := acquire(t, p, Request{Owner: owner(3), Peer: "alice", Hint: netip.MustParseAddr("100.64.0.3")}); a.String() != "100.64.0.3" {
		t.Fatalf("alice got %v", a)
	}
	if s := p.Stats(); s.Remembered != 1 {
		t.Errorf("remembered %d, want 1 (bob's)", s.Remembered)
	}
	if c := acquire(t, p, Request{Owner: owner(4), Peer: "carol"}); c.String() != "100.64.0.1" {
		t.Errorf("carol got %v, want alice's forgotten 100.64.0.1 before bob's 100.64.0.2", c)
	}
}
