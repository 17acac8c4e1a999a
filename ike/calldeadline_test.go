package ike

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallDeadlinesShareOneContext: calls within the share window get
// one context, whose deadline is at least the timeout from each call;
// a call after the window gets a new one.
func TestCallDeadlinesShareOneContext(t *testing.T) {
	t0 := time.Now()
	now := t0
	d := newCallDeadlines(context.Background(), 5*time.Second)
	d.now = func() time.Time { return now }

	first, _ := d.get()
	now = t0.Add(callDeadlineShare - time.Millisecond)
	second, _ := d.get()
	if first != second {
		t.Fatal("two calls within the share window got two contexts (one timer each)")
	}
	dl, ok := second.Deadline()
	if !ok {
		t.Fatal("shared call context has no deadline")
	}
	if min, max := now.Add(5*time.Second), t0.Add(5*time.Second+callDeadlineShare); dl.Before(min) || dl.After(max) {
		t.Fatalf("deadline %v, want between %v (timeout from the last call) and %v", dl, min, max)
	}
	now = t0.Add(callDeadlineShare)
	third, _ := d.get()
	if third == first {
		t.Fatal("a call after the share window got the old context: its deadline would be under the timeout")
	}
	if dl3, _ := third.Deadline(); dl3.Before(now.Add(5 * time.Second)) {
		t.Fatalf("deadline %v under the timeout from the call at %v", dl3, now)
	}
}

// TestCallDeadlinesFire: the shared context still ends at its deadline
// (a hung call into the data plane is cut), and at once when the
// engine's lifetime ends.
func TestCallDeadlinesFire(t *testing.T) {
	d := newCallDeadlines(context.Background(), 20*time.Millisecond)
	d.share = 10 * time.Millisecond
	ctx, cancel := d.get()
	cancel() // a no-op: the context is shared
	if ctx.Err() != nil {
		t.Fatalf("cancel of one call ended the shared context: %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("err %v, want deadline exceeded", ctx.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shared call context never reached its deadline")
	}

	life, end := context.WithCancel(context.Background())
	d = newCallDeadlines(life, time.Hour)
	ctx, _ = d.get()
	end()
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("err %v, want canceled", ctx.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shared call context outlived the engine")
	}
}

// TestCallDeadlinesNoAllocation: a call within the window allocates
// nothing (context.WithTimeout allocated a context, a timer and a closure
// per call).
func TestCallDeadlinesNoAllocation(t *testing.T) {
	d := newCallDeadlines(context.Background(), 5*time.Second)
	d.share = time.Hour
	d.get()
	if n := testing.AllocsPerRun(100, func() { d.get() }); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}

// TestEngineHookDeadline: the engine's own calls into the data plane
// carry a deadline about installTimeout away (the shared context, not
// the bare lifetime).
func TestEngineHookDeadline(t *testing.T) {
	e := &Engine{}
	e.life, e.endLife = context.WithCancel(context.Background())
	defer e.endLife()
	e.calls = newCallDeadlines(e.life, installTimeout)
	sa := &ikeSA{e: e}
	ctx, cancel := sa.callCtx()
	defer cancel()
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) < installTimeout-time.Second || time.Until(dl) > installTimeout+callDeadlineShare {
		t.Fatalf("hook deadline %v (set %v), want about %v away", time.Until(dl), ok, installTimeout)
	}
}
