// Package clocktest provides Fake, a clock.Clock whose time moves only when
// a test says so, for the tests of every package that takes a clock.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
)

// Start is where New's clocks begin: a fixed instant, so tests that print
// or compare times are reproducible.
var Start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Fake is a clock.Clock whose time moves only by Advance, Step and RunNext.
// Timer callbacks run in the goroutine that moves time, in the order they
// fall due (ties in the order they were armed), so tests are deterministic
// and never sleep. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *Fake
	when    time.Time
	seq     int
	f       func()
	stopped bool
}

var _ clock.Clock = (*Fake)(nil)

// New returns a Fake at Start.
func New() *Fake { return NewAt(Start) }

// NewAt returns a Fake at t.
func NewAt(t time.Time) *Fake { return &Fake{now: t} }

// Now implements clock.Clock.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements clock.Clock: f runs when time is moved to or past
// Now()+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
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

// next pops the earliest pending timer due at or before limit and moves
// time to it.
func (c *Fake) next(limit time.Time) *fakeTimer {
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

// Advance moves time forward by d, running every timer that falls due
// (also those the callbacks arm within d), and returns the new time.
func (c *Fake) Advance(d time.Duration) time.Time {
	limit := c.Now().Add(d)
	for t := c.next(limit); t != nil; t = c.next(limit) {
		t.f()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit.After(c.now) {
		c.now = limit
	}
	return c.now
}

// RunNext runs the earliest pending timer due at or before limit, moving
// time to it; it reports false, and leaves time alone, when there is none.
// A test that must act between timers (deliver packets, say) loops on it.
func (c *Fake) RunNext(limit time.Time) bool {
	t := c.next(limit)
	if t == nil {
		return false
	}
	t.f()
	return true
}

// Step runs the earliest pending timer within max of now, moving time to
// it; it reports false when none is pending within max.
func (c *Fake) Step(max time.Duration) bool { return c.RunNext(c.Now().Add(max)) }

// Pending is the number of armed timers.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
