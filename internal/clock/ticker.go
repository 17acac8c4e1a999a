package clock

import (
	"sync"
	"time"
)

// Ticker sends the time on C every period, as time.Ticker does, but from
// a Clock: with a fake clock it ticks as the test moves time, and no test
// sleeps for it. Like time.Ticker it drops the ticks a slow reader misses
// (C holds one), so a reader that acts on the time elapsed, not on the
// number of ticks, loses nothing.
type Ticker struct {
	// C delivers the ticks.
	C <-chan time.Time

	c      chan time.Time
	clk    Clock
	period time.Duration

	mu      sync.Mutex
	timer   Timer
	stopped bool
}

// NewTicker starts a ticker on clk that ticks first one period from now.
// It panics if period is not positive, as time.NewTicker does.
func NewTicker(clk Clock, period time.Duration) *Ticker {
	if period <= 0 {
		panic("clock: NewTicker with a period that is not positive")
	}
	c := make(chan time.Time, 1)
	t := &Ticker{C: c, c: c, clk: clk, period: period}
	t.mu.Lock()
	t.timer = clk.AfterFunc(period, t.tick)
	t.mu.Unlock()
	return t
}

// tick sends one tick, unless the reader has not taken the last one, and
// arms the next.
func (t *Ticker) tick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.timer = t.clk.AfterFunc(t.period, t.tick)
	select {
	case t.c <- t.clk.Now():
	default:
	}
}

// Stop turns the ticker off: no tick is sent after it returns (one sent
// before may still wait in C). It does not close C.
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.timer.Stop()
}
