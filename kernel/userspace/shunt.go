package userspace

import (
	"context"
	"fmt"
	"sort"

	"github.com/oemesh/oemesh/kernel"
)

// SetShunt installs a pass, drop or hold shunt for a flow (Proto 0 means
// any protocol and port; an invalid Src any source). Held packets of the
// flows it covers are sent in clear (pass) or dropped and counted (drop).
// When the lifetime ends, the shunt is removed and an ExpireShunt sent.
func (d *Device) SetShunt(ctx context.Context, s kernel.Shunt) error {
	if err := d.closed(); err != nil {
		return err
	}
	if !s.Flow.Dst.IsValid() {
		return fmt.Errorf("userspace: set %s shunt: flow has no destination", s.Kind)
	}
	if s.Kind < kernel.ShuntPass || s.Kind > kernel.ShuntHold {
		return fmt.Errorf("userspace: set shunt for %s: unknown kind %d", s.Flow.Dst, s.Kind)
	}
	if s.Flow.Proto == 0 {
		s.Flow.SrcPort, s.Flow.DstPort = 0, 0
	}
	sh := &shunt{s: s}
	if s.Lifetime > 0 {
		sh.expires = d.clock.Now().Add(s.Lifetime)
	}
	d.mu.Lock()
	d.shunts[s.Flow] = sh
	d.update(func(t *tables) *tables { return t.withShunts(d.shunts) })
	var rel []released
	if s.Kind != kernel.ShuntHold {
		rel = d.hold.take(func(f kernel.Flow) bool { return shuntCovers(s.Flow, f) })
	}
	d.mu.Unlock()
	d.log.Debug("shunt set", "kind", s.Kind, "dst", s.Flow.Dst, "lifetime", s.Lifetime, "released", len(rel))
	d.resolveHeld(rel)
	return nil
}

// RemoveShunt removes the shunt for exactly this flow.
func (d *Device) RemoveShunt(ctx context.Context, f kernel.Flow) error {
	if err := d.closed(); err != nil {
		return err
	}
	if f.Proto == 0 {
		f.SrcPort, f.DstPort = 0, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.shunts[f]; !ok {
		return fmt.Errorf("userspace: remove shunt %s → %s: no such shunt", f.Src, f.Dst)
	}
	delete(d.shunts, f)
	d.update(func(t *tables) *tables { return t.withShunts(d.shunts) })
	return nil
}

// Shunts lists the shunts in place, with their expiry times.
func (d *Device) Shunts(ctx context.Context) ([]kernel.Shunt, error) {
	d.mu.Lock()
	out := make([]kernel.Shunt, 0, len(d.shunts))
	for _, s := range d.shunts {
		k := s.s
		k.Expires = s.expires
		out = append(out, k)
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Flow.Dst.Compare(out[j].Flow.Dst); c != 0 {
			return c < 0
		}
		return out[i].Flow.Src.Less(out[j].Flow.Src)
	})
	return out, nil
}
