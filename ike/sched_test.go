package ike

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

func TestSchedulerOrderAndStop(t *testing.T) {
	clk := clocktest.New()
	s := newScheduler(clk)
	var ran []string
	add := func(name string, d time.Duration) clock.Timer {
		return s.AfterFunc(d, func() { ran = append(ran, name) })
	}
	add("c", 30*time.Second)
	add("a", 10*time.Second)
	b := add("b", 20*time.Second)
	add("a2", 10*time.Second) // same deadline as a: runs after it
	if clk.Pending() != 1 || s.pending() != 4 {
		t.Fatalf("%d clock timers for %d entries, want 1 for 4", clk.Pending(), s.pending())
	}
	if !b.Stop() || b.Stop() {
		t.Fatal("Stop of a pending timer: want true once, then false")
	}
	clk.Advance(9 * time.Second)
	if len(ran) != 0 {
		t.Fatalf("ran %v before any deadline", ran)
	}
	clk.Advance(time.Second)
	if !reflect.DeepEqual(ran, []string{"a", "a2"}) {
		t.Fatalf("at 10 s ran %v, want [a a2]", ran)
	}
	// A timer armed for earlier than the clock timer re-arms it.
	add("early", 5*time.Second) // 15 s, before c at 30 s
	clk.Advance(5 * time.Second)
	if !reflect.DeepEqual(ran, []string{"a", "a2", "early"}) {
		t.Fatalf("at 15 s ran %v", ran)
	}
	clk.Advance(time.Hour)
	if !reflect.DeepEqual(ran, []string{"a", "a2", "early", "c"}) {
		t.Fatalf("after an hour ran %v; b was stopped", ran)
	}
	if clk.Pending() != 0 || s.pending() != 0 {
		t.Fatalf("%d clock timers and %d entries left", clk.Pending(), s.pending())
	}
}

// TestSchedulerRearmFromCallback: a callback that arms and stops timers
// (as the lifetime timers do) runs without the scheduler's lock.
func TestSchedulerRearmFromCallback(t *testing.T) {
	clk := clocktest.New()
	s := newScheduler(clk)
	var hits []time.Duration
	start := clk.Now()
	var tick func()
	var other clock.Timer
	tick = func() {
		hits = append(hits, clk.Now().Sub(start))
		if len(hits) < 3 {
			s.AfterFunc(10*time.Second, tick)
		}
		if other != nil {
			other.Stop()
		}
	}
	s.AfterFunc(10*time.Second, tick)
	other = s.AfterFunc(25*time.Second, func() { t.Error("a stopped timer ran") })
	clk.Advance(time.Minute)
	if !reflect.DeepEqual(hits, []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second}) {
		t.Fatalf("ticks at %v", hits)
	}
	if clk.Pending() != 0 || s.pending() != 0 {
		t.Fatalf("%d clock timers and %d entries left", clk.Pending(), s.pending())
	}
}

// TestSchedulerStopLastDisarms: stopping the only entry stops the clock
// timer too, so that an engine with no SAs holds no timers.
func TestSchedulerStopLastDisarms(t *testing.T) {
	clk := clocktest.New()
	s := newScheduler(clk)
	tm := s.AfterFunc(time.Minute, func() { t.Error("stopped timer ran") })
	tm.Stop()
	if clk.Pending() != 0 {
		t.Fatalf("%d clock timers after the only entry stopped", clk.Pending())
	}
	clk.Advance(time.Hour)
}

// TestSchedulerSystemClock arms and stops timers from several goroutines
// on the real clock: each timer not stopped runs exactly once.
func TestSchedulerSystemClock(t *testing.T) {
	s := newScheduler(clock.System{})
	const n = 400
	var mu sync.Mutex
	ran := make([]int, n)
	stopped := make([]bool, n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < n; i += 4 {
				tm := s.AfterFunc(time.Duration(i%50)*time.Millisecond, func() {
					mu.Lock()
					ran[i]++
					mu.Unlock()
				})
				if i%3 == 0 && tm.Stop() {
					mu.Lock()
					stopped[i] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for s.pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the last batch may still be running
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		want := 1
		if stopped[i] {
			want = 0
		}
		if ran[i] != want {
			t.Errorf("timer %d (stopped %v) ran %d times", i, stopped[i], ran[i])
		}
	}
}
