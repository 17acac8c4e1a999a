package publish

import (
	"context"
	"crypto"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/clock"
)

// State is where a Runner's publication stands.
type State int

//go:generate go tool stringer -type=State -linecomment

const (
	StatePending   State = iota // pending
	StatePublished              // published
	StateRetrying               // retrying
	StateWithdrawn              // withdrawn
)

// Status is a Runner's last outcome, for `oemesh status`.
type Status struct {
	State     State
	Records   string    // what is published where (Publisher.String)
	Attempts  int       // UPDATE rounds since the last success
	LastError string    // "" after a success
	Since     time.Time // of the current state
	NextRetry time.Time // zero unless retrying
}

// Runner keeps our records published from a daemon: it publishes the host
// key and, when the server refuses or cannot be reached, retries with
// exponential backoff (from MinBackoff, doubling, up to MaxBackoff) until
// it succeeds or its context ends. A failure is logged, shown in Status
// and never stops the daemon.
type Runner struct {
	Publisher  *Publisher
	Clock      clock.Clock
	MinBackoff time.Duration // default 5s
	MaxBackoff time.Duration // default 10m

	mu        sync.Mutex
	status    Status
	published []crypto.PublicKey // the keys of the last successful Run
}

// Status returns the last outcome.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Runner) set(s Status) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// Run publishes exactly keys' records (Publisher.Set) until it succeeds or
// ctx ends; it returns nil after a success and ctx's error otherwise.
func (r *Runner) Run(ctx context.Context, keys ...crypto.PublicKey) error {
	minB, maxB := r.MinBackoff, r.MaxBackoff
	if minB <= 0 {
		minB = 5 * time.Second
	}
	if maxB < minB {
		maxB = max(minB, 10*time.Minute)
	}
	log := r.Publisher.cfg.Log
	r.set(Status{State: StatePending, Records: r.Publisher.String(), Since: r.Clock.Now()})
	backoff := minB
	for attempt := 1; ; attempt++ {
		err := r.Publisher.Set(ctx, keys...)
		now := r.Clock.Now()
		if err == nil {
			log.Info("dns.publish: records published", "records", r.Publisher.String(), "attempts", attempt)
			r.set(Status{State: StatePublished, Records: r.Publisher.String(), Since: now})
			r.mu.Lock()
			r.published = keys
			r.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		next := now.Add(backoff)
		log.Error("dns.publish: publication failed; oemeshd keeps running and retries", "err", err, "attempt", attempt, "retry_in", backoff)
		wake := make(chan struct{})
		t := r.Clock.AfterFunc(backoff, func() { close(wake) })
		// After the timer is armed, so that a test that sees the status
		// can move its clock past the retry.
		r.set(Status{State: StateRetrying, Records: r.Publisher.String(), Attempts: attempt, LastError: err.Error(),
			Since: r.statusSince(StateRetrying, now), NextRetry: next})
		select {
		case <-wake:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, maxB)
	}
}

// statusSince keeps the time a state began across repeats of it.
func (r *Runner) statusSince(s State, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.State == s && !r.status.Since.IsZero() {
		return r.status.Since
	}
	return now
}

// Withdraw deletes, once, the records of keys and of the keys the last
// successful Run published (both, if a stop comes during a rollover's
// overlap): at a clean stop with dns.publish.withdraw_on_stop.
func (r *Runner) Withdraw(ctx context.Context, keys ...crypto.PublicKey) error {
	r.mu.Lock()
	all := append(slices.Clone(r.published), keys...)
	r.mu.Unlock()
	seen := map[string]bool{}
	var uniq []crypto.PublicKey
	for _, k := range all {
		if fp := dnskey.Fingerprint(k); !seen[fp] {
			seen[fp] = true
			uniq = append(uniq, k)
		}
	}
	if err := r.Publisher.Withdraw(ctx, uniq...); err != nil {
		return err
	}
	r.set(Status{State: StateWithdrawn, Records: r.Publisher.String(), Since: r.Clock.Now()})
	return nil
}
