package main

import (
	"context"

	"github.com/oemesh/oemesh/kernel"
)

// staleTrapRemover is a data plane that keeps what an earlier run left
// blocking across a restart (the fail-closed guard of the userspace data
// plane, the trap policies of xfrm) until told that the policy is in place.
type staleTrapRemover interface {
	RemoveStaleTraps(ctx context.Context) (int, error)
}

// removeStaleTraps drops what an earlier run left for prefixes the loaded
// policy no longer has. It runs only after the whole policy went in: until
// then the leftovers keep blocking, which is the safe side.
func (d *daemon) removeStaleTraps(ctx context.Context, dp kernel.Dataplane) {
	r, ok := dp.(staleTrapRemover)
	if !ok {
		return
	}
	n, err := r.RemoveStaleTraps(ctx)
	if err != nil {
		d.log.Error("removing traps left by an earlier run", "err", err)
		return
	}
	if n > 0 {
		d.log.Info("removed traps left by an earlier run that the policy no longer has", "traps", n)
	}
}
