package ike

import (
	"container/heap"
	"sync"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
)

// scheduler runs the engine's long-lived timers — liveness, keepalive,
// IKE and CHILD SA lifetimes, half-open and give-up limits — from one
// Clock timer armed for the earliest of them. Each is a small entry in a
// heap instead of a runtime timer of its own: an established SA keeps
// three or four timers for hours, and the entries cost less than half of
// what runtime timers do.
//
// Due timers run one after another in the goroutine of the clock's
// callback (for a test clock, the goroutine that advances it), without
// the scheduler's lock held, so they may arm and stop timers.
type scheduler struct {
	clock clock.Clock
	start time.Time // deadlines are durations since start (monotonic)

	mu    sync.Mutex
	q     timerQueue
	seq   uint64
	armed clock.Timer   // the clock timer for q[0], or nil
	at    time.Duration // when armed fires
	gen   uint64        // counts armings: a stale clock timer does nothing
}

func newScheduler(c clock.Clock) *scheduler { return &scheduler{clock: c, start: c.Now()} }

// schedTimer is one pending call; it implements clock.Timer.
type schedTimer struct {
	s    *scheduler
	when time.Duration // since s.start
	seq  uint64        // ties run in the order they were armed
	f    func()
	i    int // index in s.q; -1 once run or stopped
}

// AfterFunc calls f once d has elapsed.
func (s *scheduler) AfterFunc(d time.Duration, f func()) *schedTimer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	t := &schedTimer{s: s, when: s.clock.Now().Sub(s.start) + d, seq: s.seq, f: f}
	heap.Push(&s.q, t)
	s.armLocked()
	return t
}

// Stop prevents the call if it has not run yet and reports whether it did.
func (t *schedTimer) Stop() bool {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.i < 0 {
		return false
	}
	heap.Remove(&s.q, t.i)
	t.f = nil // let what the call holds go
	if len(s.q) == 0 && s.armed != nil {
		s.armed.Stop()
		s.armed = nil
	}
	return true
}

// pending counts the timers not yet run or stopped.
func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// armLocked makes the clock timer fire by the earliest deadline.
func (s *scheduler) armLocked() {
	if len(s.q) == 0 {
		return
	}
	first := s.q[0].when
	if s.armed != nil && first >= s.at {
		return
	}
	if s.armed != nil {
		s.armed.Stop()
	}
	s.gen++
	gen := s.gen
	s.at = first
	s.armed = s.clock.AfterFunc(first-s.clock.Now().Sub(s.start), func() { s.fire(gen) })
}

// fire runs every timer due now and arms the clock for the next.
func (s *scheduler) fire(gen uint64) {
	s.mu.Lock()
	if gen != s.gen {
		s.mu.Unlock()
		return // re-armed for an earlier deadline since; that timer runs them
	}
	s.armed = nil
	now := s.clock.Now().Sub(s.start)
	var due []*schedTimer
	for len(s.q) > 0 && s.q[0].when <= now {
		due = append(due, heap.Pop(&s.q).(*schedTimer))
	}
	s.armLocked()
	s.mu.Unlock()
	for _, t := range due {
		f := t.f
		t.f = nil
		f()
	}
}

// timerQueue is a min-heap of timers by deadline, then arming order.
type timerQueue []*schedTimer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].when != q[j].when {
		return q[i].when < q[j].when
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].i, q[j].i = i, j
}
func (q *timerQueue) Push(x any) {
	t := x.(*schedTimer)
	t.i = len(*q)
	*q = append(*q, t)
}
func (q *timerQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.i = -1
	return t
}
