package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
)

// trapPolicy is the outbound policy that stands for a group on a prefix.
func (d *Dataplane) trapPolicy(t kernel.Trap) (policy, error) {
	p := t.Prefix.Masked()
	sel := selector{Src: anyPrefix(p.Addr()), Dst: p}
	pol := policy{Sel: sel, Dir: dirOut, Priority: priority(d.opts.PriorityBase, classTrap, sel)}
	switch t.Group {
	case kernel.GroupClear, kernel.GroupClearOrPrivate:
		// clear-or-private only responds: our own traffic goes clear.
		pol.Action = actionAllow
	case kernel.GroupBlock:
		pol.Action = actionBlock
	case kernel.GroupPrivate, kernel.GroupPrivateOrClear:
		pol.Tmpl = &tmpl{Family: sel.family(), Mode: modeTransport, Reqid: d.opts.ReqIDBase}
	default:
		return pol, fmt.Errorf("trap for %s: unknown group %d", p, t.Group)
	}
	return pol, nil
}

// SetTrap implements kernel.Dataplane.
func (d *Dataplane) SetTrap(_ context.Context, t kernel.Trap) error {
	if !t.Prefix.IsValid() {
		return errors.New("xfrm: set trap: invalid prefix")
	}
	t.Prefix = t.Prefix.Masked()
	pol, err := d.trapPolicy(t)
	if err != nil {
		return fmt.Errorf("xfrm: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if err := d.put(pol); err != nil {
		return fmt.Errorf("xfrm: trap %s (%s): %w", t.Prefix, t.Group, err)
	}
	d.traps[t.Prefix] = t
	d.log.Debug("trap set", "prefix", t.Prefix, "group", t.Group, "priority", pol.Priority)
	return nil
}

// RemoveTrap implements kernel.Dataplane.
func (d *Dataplane) RemoveTrap(_ context.Context, prefix netip.Prefix) error {
	prefix = prefix.Masked()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if _, ok := d.traps[prefix]; !ok {
		return fmt.Errorf("xfrm: remove trap %s: no such trap", prefix)
	}
	if err := d.del(selector{Src: anyPrefix(prefix.Addr()), Dst: prefix}, dirOut); err != nil {
		return fmt.Errorf("xfrm: remove trap %s: %w", prefix, err)
	}
	delete(d.traps, prefix)
	d.log.Debug("trap removed", "prefix", prefix)
	return nil
}
