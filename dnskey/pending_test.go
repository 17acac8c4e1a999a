package dnskey

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

type awaited struct {
	b          Binding
	ok, waited bool
	err        error
}

// startAwait runs Await in the background and returns once it waits
// (its deadline timer armed on the fake clock).
func startAwait(t *testing.T, ctx context.Context, b *Bindings, clk *clocktest.Fake, addr netip.Addr) <-chan awaited {
	t.Helper()
	armed := clk.Pending()
	ch := make(chan awaited, 1)
	go func() {
		var r awaited
		r.b, r.ok, r.waited, r.err = b.Await(ctx, addr)
		ch <- r
	}()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Pending() == armed {
		if time.Now().After(deadline) {
			t.Fatal("Await did not start waiting")
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

func receive(t *testing.T, ch <-chan awaited) awaited {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Await did not return")
	}
	return awaited{}
}

func notYet(t *testing.T, ch <-chan awaited) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Await returned %+v while the address was pending", r)
	case <-time.After(20 * time.Millisecond):
	}
}

var (
	pendA = netip.MustParseAddr("198.18.0.2")
	pendB = netip.MustParseAddr("198.18.0.3")
)

func TestAwaitNotPending(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{})
	if _, ok, waited, err := b.Await(t.Context(), pendA); ok || waited || err != nil {
		t.Errorf("Await of an address never pending = %v, %v, %v; want no binding, no wait", ok, waited, err)
	}
	if err := b.Bind("b.example", []netip.Addr{pendA}, edResult(t, "b.example."), time.Minute); err != nil {
		t.Fatal(err)
	}
	if bd, ok, waited, err := b.Await(t.Context(), pendA); !ok || waited || err != nil || bd.Name != "b.example." {
		t.Errorf("Await of a bound address = %+v, %v, %v, %v", bd, ok, waited, err)
	}
	if s := b.Stats(); s.Waits != 0 {
		t.Errorf("Waits %d, want 0", s.Waits)
	}
}

// TestAwaitPendingBound: an Await during a pending look-up waits, then
// takes the binding the look-up makes.
func TestAwaitPendingBound(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{PendingWait: 2 * time.Second})
	hold := b.Pend([]netip.Addr{pendA, pendB})
	if s := b.Stats(); s.Pending != 2 || s.Pended != 2 {
		t.Fatalf("after Pend: %+v, want 2 pending", s)
	}
	ch := startAwait(t, t.Context(), b, clk, netip.AddrFrom16(pendA.As16())) // the 4-in-6 form is the same address
	notYet(t, ch)
	if err := b.Bind("b.example", []netip.Addr{pendA}, edResult(t, "b.example."), time.Minute); err != nil {
		t.Fatal(err)
	}
	r := receive(t, ch)
	if !r.ok || !r.waited || r.err != nil || r.b.Name != "b.example." || r.b.Addr != pendA {
		t.Errorf("Await = %+v, want the binding of b.example after a wait", r)
	}
	// pendB is still pending: the look-up bound only pendA so far.
	if s := b.Stats(); s.Pending != 1 {
		t.Errorf("%d pending after binding one of two, want 1", s.Pending)
	}
	hold.Done()
	s := b.Stats()
	if s.Pending != 0 || s.Waits != 1 || s.WaitsBound != 1 || s.WaitsNone != 0 || s.WaitsTimedOut != 0 {
		t.Errorf("stats %+v, want no pending, 1 wait, bound", s)
	}
	if clk.Pending() != 0 {
		t.Errorf("%d timers left armed", clk.Pending())
	}
}

// TestAwaitPendingNone: a pending look-up that ends without a binding
// releases its waiters, which go on without one.
func TestAwaitPendingNone(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{})
	hold := b.Pend([]netip.Addr{pendA})
	ch := startAwait(t, t.Context(), b, clk, pendA)
	notYet(t, ch)
	hold.Done()
	r := receive(t, ch)
	if r.ok || !r.waited || r.err != nil {
		t.Errorf("Await = %+v, want no binding, a wait, no error", r)
	}
	hold.Done() // a second Done does nothing
	if _, _, waited, _ := b.Await(t.Context(), pendA); waited {
		t.Error("Await waited for an address already settled")
	}
	if s := b.Stats(); s.Pending != 0 || s.Waits != 1 || s.WaitsNone != 1 || s.WaitsBound != 0 {
		t.Errorf("stats %+v, want 1 wait that found none", s)
	}
	var nilHold *Pending
	nilHold.Add([]netip.Addr{pendA})
	nilHold.Done()
}

// TestAwaitPendingBounded: a pending address that never settles holds a
// waiter no longer than PendingWait from when it was marked.
func TestAwaitPendingBounded(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{PendingWait: 2 * time.Second})
	b.Pend([]netip.Addr{pendA}) // never Done: a look-up that hangs
	clk.Advance(500 * time.Millisecond)
	ch := startAwait(t, t.Context(), b, clk, pendA)
	clk.Advance(1499 * time.Millisecond)
	notYet(t, ch)
	clk.Advance(time.Millisecond)
	r := receive(t, ch)
	if r.ok || !r.waited || !errors.Is(r.err, ErrPendingTimeout) {
		t.Errorf("Await = %+v, want ErrPendingTimeout", r)
	}
	// Past the deadline, a new waiter does not wait at all.
	start := time.Now()
	if _, _, waited, err := b.Await(t.Context(), pendA); !waited || !errors.Is(err, ErrPendingTimeout) || time.Since(start) > time.Second {
		t.Errorf("Await past the deadline = %v, %v after %v", waited, err, time.Since(start))
	}
	if s := b.Stats(); s.Waits != 2 || s.WaitsTimedOut != 2 {
		t.Errorf("stats %+v, want 2 waits timed out", s)
	}
}

func TestAwaitPendingCancelled(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{})
	b.Pend([]netip.Addr{pendA})
	ctx, cancel := context.WithCancelCause(t.Context())
	ch := startAwait(t, ctx, b, clk, pendA)
	stop := errors.New("negotiation stopped")
	cancel(stop)
	r := receive(t, ch)
	if !r.waited || !errors.Is(r.err, stop) {
		t.Errorf("Await = %+v, want the context's cause", r)
	}
	if s := b.Stats(); s.WaitsCancelled != 1 {
		t.Errorf("stats %+v, want 1 cancelled wait", s)
	}
}

// TestPendingJoined: one state per address. A second hold joins the
// first; the address settles as none only when both are done, and as
// bound as soon as either look-up binds it.
func TestPendingJoined(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{})
	first, second := b.Pend([]netip.Addr{pendA}), b.Pend([]netip.Addr{pendA})
	second.Add([]netip.Addr{pendA, pendB}) // pendA again: no second hold
	if s := b.Stats(); s.Pending != 2 || s.Pended != 2 {
		t.Fatalf("stats %+v, want 2 addresses pending, each marked once", s)
	}
	ch := startAwait(t, t.Context(), b, clk, pendA)
	first.Done()
	notYet(t, ch)
	second.Done()
	if r := receive(t, ch); r.ok || !r.waited || r.err != nil {
		t.Errorf("Await = %+v, want none after both holds were done", r)
	}

	first, second = b.Pend([]netip.Addr{pendA}), b.Pend([]netip.Addr{pendA})
	ch = startAwait(t, t.Context(), b, clk, pendA)
	if err := b.Bind("b.example", []netip.Addr{pendA}, edResult(t, "b.example."), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, ch); !r.ok || r.err != nil {
		t.Errorf("Await = %+v, want the binding one of two look-ups made", r)
	}
	// A new answer while the old holds linger makes a new pending state.
	third := b.Pend([]netip.Addr{pendA})
	first.Done()
	second.Done()
	if s := b.Stats(); s.Pending != 1 {
		t.Errorf("%d pending, want the third hold's", s.Pending)
	}
	third.Done()
	if s := b.Stats(); s.Pending != 0 {
		t.Errorf("%d pending after every hold was done", s.Pending)
	}
}

func TestBindingsRefusesNegativePendingWait(t *testing.T) {
	if _, err := NewBindings(BindingsConfig{PendingWait: -time.Second}); err == nil {
		t.Error("NewBindings took a negative pending wait")
	}
}
