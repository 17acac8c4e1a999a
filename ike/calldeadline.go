package ike

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callDeadlineShare is how long one shared call context is handed out:
// a call made for the engine's own work (callDeadlines.get) gets a
// deadline between installTimeout and installTimeout+callDeadlineShare
// from when it was made. At most (installTimeout/callDeadlineShare)+1
// contexts, each with one runtime timer, are alive at a time, however
// many calls are made.
const callDeadlineShare = 100 * time.Millisecond

// callDeadlines hands out the contexts that bound the engine's own calls
// into the data plane, the policy and the key resolver (the peer's
// exchanges, rekeys, deletes): its lifetime, with a deadline about
// installTimeout away. context.WithTimeout per call cost a timer, a
// context, a closure and a registration in the lifetime's child set
// (under its lock, shared by every SA) each, several times a handshake;
// these calls need a bound, not their own, so the calls made within
// callDeadlineShare of each other share one context. Its cancel is a
// no-op: the shared context ends at its deadline (its timer then
// releases it) or with the lifetime.
type callDeadlines struct {
	life    context.Context
	timeout time.Duration
	share   time.Duration
	// now is the wall clock the deadline is set against (a context's
	// deadline is wall-clock time; tests move it).
	now func() time.Time

	cur atomic.Pointer[sharedDeadline]
	mu  sync.Mutex // makes the next sharedDeadline, one at a time
}

// sharedDeadline is one context handed out until until.
type sharedDeadline struct {
	ctx   context.Context
	until time.Time
	// cancel releases the timer early; nothing needs to: the timer
	// fires at the deadline, and the lifetime's end cancels it too.
	cancel context.CancelFunc
}

func newCallDeadlines(life context.Context, timeout time.Duration) *callDeadlines {
	return &callDeadlines{life: life, timeout: timeout, share: callDeadlineShare, now: time.Now}
}

// get is the context of one call: the lifetime, ending at the latest
// timeout+share from now. The cancel function it returns is a no-op, so
// callers keep the shape of context.WithTimeout.
func (d *callDeadlines) get() (context.Context, context.CancelFunc) {
	now := d.now()
	if s := d.cur.Load(); s != nil && now.Before(s.until) {
		return s.ctx, noCancel
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.cur.Load(); s != nil && now.Before(s.until) {
		return s.ctx, noCancel
	}
	ctx, cancel := context.WithDeadline(d.life, now.Add(d.timeout+d.share))
	d.cur.Store(&sharedDeadline{ctx: ctx, until: now.Add(d.share), cancel: cancel})
	return ctx, noCancel
}

// noCancel is the cancel function of a shared call context.
func noCancel() {}
