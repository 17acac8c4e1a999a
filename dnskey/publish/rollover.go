package publish

import (
	"context"
	"crypto"
	"fmt"
	"time"
)

// Rollover replaces the published key Old by New so that no peer ever
// holds only a key we no longer sign with (see the package comment).
type Rollover struct {
	// Set publishes exactly keys' records: Publisher.Set, or a Runner's
	// Run, which retries until it succeeds.
	Set      func(ctx context.Context, keys ...crypto.PublicKey) error
	Old, New crypto.PublicKey
	// TTL is how long a resolver may cache the old RRset: the records' TTL
	// (for a TTL you lowered, the old TTL).
	TTL time.Duration
	// Wait sleeps for d or until ctx ends; nil: a real timer.
	Wait func(ctx context.Context, d time.Duration) error
	// Switch makes the host sign with New from now on (for oemeshd: write
	// the new key file, then restart the daemon). It runs after the
	// overlap and before the old record goes.
	Switch func(ctx context.Context) error
	// LeaveOld stops after Switch: the old record stays until the next
	// Set. For a daemon that switches keys only when it restarts, and
	// publishes the new key alone when it starts.
	LeaveOld bool
}

// Run publishes New beside Old, waits one TTL, switches, then publishes
// New alone. If a step fails, Run stops there: the records are then
// either Old alone, or Old and New, both of which peers can use while we
// sign with Old.
func (r Rollover) Run(ctx context.Context) error {
	wait := r.Wait
	if wait == nil {
		wait = sleep
	}
	if err := r.Set(ctx, r.Old, r.New); err != nil {
		return fmt.Errorf("rollover, step 1 (publish the new key beside the old): %w", err)
	}
	if err := wait(ctx, r.TTL); err != nil {
		return fmt.Errorf("rollover, step 2 (wait one TTL, %v): %w", r.TTL, err)
	}
	if r.Switch != nil {
		if err := r.Switch(ctx); err != nil {
			return fmt.Errorf("rollover, step 3 (switch to the new key): %w", err)
		}
	}
	if r.LeaveOld {
		return nil
	}
	if err := r.Set(ctx, r.New); err != nil {
		return fmt.Errorf("rollover, step 4 (withdraw the old key): %w", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
