package clocktest

import (
	"slices"
	"testing"
	"time"
)

func TestFakeRunsTimersInOrder(t *testing.T) {
	c := New()
	if !c.Now().Equal(Start) {
		t.Fatalf("New at %v, want %v", c.Now(), Start)
	}
	var ran []string
	var at []time.Duration
	rec := func(name string) func() {
		return func() { ran = append(ran, name); at = append(at, c.Now().Sub(Start)) }
	}
	c.AfterFunc(3*time.Second, rec("c"))
	c.AfterFunc(time.Second, rec("a"))
	c.AfterFunc(time.Second, rec("b")) // same instant: armed later, runs later
	stopped := c.AfterFunc(2*time.Second, rec("stopped"))
	c.AfterFunc(time.Hour, rec("late"))
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true once, then false")
	}
	if c.Pending() != 4 {
		t.Fatalf("Pending %d, want 4", c.Pending())
	}
	// A callback that arms a timer due within the same Advance runs it too.
	c.AfterFunc(500*time.Millisecond, func() { c.AfterFunc(time.Second, rec("chained")) })
	now := c.Advance(5 * time.Second)
	if !slices.Equal(ran, []string{"a", "b", "chained", "c"}) {
		t.Fatalf("ran %v", ran)
	}
	if !slices.Equal(at, []time.Duration{time.Second, time.Second, 1500 * time.Millisecond, 3 * time.Second}) {
		t.Fatalf("callbacks saw times %v", at)
	}
	if !now.Equal(Start.Add(5*time.Second)) || !c.Now().Equal(now) {
		t.Fatalf("Advance returned %v, Now %v, want start+5s", now, c.Now())
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending %d, want the late timer", c.Pending())
	}
}

func TestFakeStepAndRunNext(t *testing.T) {
	c := NewAt(time.Unix(1000, 0))
	n := 0
	c.AfterFunc(time.Minute, func() { n++ })
	if c.Step(time.Second) || n != 0 || !c.Now().Equal(time.Unix(1000, 0)) {
		t.Fatal("Step ran a timer beyond its bound or moved time")
	}
	if !c.Step(time.Hour) || n != 1 || !c.Now().Equal(time.Unix(1060, 0)) {
		t.Fatalf("Step: ran %d, now %v; want the timer run at 1060", n, c.Now())
	}
	if c.RunNext(c.Now().Add(time.Hour)) {
		t.Fatal("RunNext with nothing pending reported a run")
	}
}
