package userspace

import (
	"context"
	"fmt"

	"github.com/oemesh/oemesh/kernel"
)

// SetExclusions implements kernel.Dataplane. The classifier sends a packet
// an exclusion selects in the clear before it looks for an SA, a shunt or
// a trap (send.go). Inbound needs nothing: this data plane never drops a
// clear packet that reaches the host.
func (d *Device) SetExclusions(_ context.Context, xs []kernel.Exclusion) error {
	if err := d.closed(); err != nil {
		return err
	}
	for _, x := range xs {
		if err := x.Check(); err != nil {
			return fmt.Errorf("userspace: %w", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.update(func(t *tables) *tables { return t.withExclusions(xs) })
	d.log.Debug("port exclusions set", "exclusions", len(xs))
	return nil
}
