package ike

import (
	"sort"
	"sync"
	"time"
)

// testClock is a Clock whose time moves only when a test says so. Timer
// callbacks run in the goroutine that advances it, so tests are
// deterministic and never sleep.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*testTimer
}

type testTimer struct {
	c       *testClock
	when    time.Time
	seq     int
	f       func()
	stopped bool
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &testTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *testTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	for i, x := range t.c.timers {
		if x == t {
			last := len(t.c.timers) - 1
			copy(t.c.timers[i:], t.c.timers[i+1:])
			t.c.timers[last] = nil // let the timer and what it holds go
			t.c.timers = t.c.timers[:last]
			return true
		}
	}
	return false
}

// next pops the earliest pending timer due at or before limit.
func (c *testClock) next(limit time.Time) *testTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.SliceStable(c.timers, func(i, j int) bool {
		if !c.timers[i].when.Equal(c.timers[j].when) {
			return c.timers[i].when.Before(c.timers[j].when)
		}
		return c.timers[i].seq < c.timers[j].seq
	})
	if len(c.timers) == 0 || c.timers[0].when.After(limit) {
		return nil
	}
	t := c.timers[0]
	copy(c.timers, c.timers[1:])
	c.timers[len(c.timers)-1] = nil
	c.timers = c.timers[:len(c.timers)-1]
	t.stopped = true
	if t.when.After(c.now) {
		c.now = t.when
	}
	return t
}

// Advance moves time forward by d, running every timer that falls due.
func (c *testClock) Advance(d time.Duration) {
	limit := c.Now().Add(d)
	for t := c.next(limit); t != nil; t = c.next(limit) {
		t.f()
	}
	c.mu.Lock()
	if limit.After(c.now) {
		c.now = limit
	}
	c.mu.Unlock()
}

// Step runs the earliest pending timer, moving time to it; it reports
// false when none is pending within max.
func (c *testClock) Step(max time.Duration) bool {
	t := c.next(c.Now().Add(max))
	if t == nil {
		return false
	}
	t.f()
	return true
}

// Pending is the number of armed timers.
func (c *testClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
