package xfrm

import (
	"context"
	"fmt"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

type shuntEntry struct {
	shunt kernel.Shunt
	key   polKey
}

func flowSel(f kernel.Flow) (selector, error) {
	if !f.Src.IsValid() || !f.Dst.IsValid() || f.Src.Is4() != f.Dst.Is4() {
		return selector{}, fmt.Errorf("flow %s→%s: need two addresses of one family", f.Src, f.Dst)
	}
	return selector{Src: hostPrefix(f.Src), Dst: hostPrefix(f.Dst), Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort}, nil
}

// SetShunt implements kernel.Dataplane with an outbound policy for the flow
// whose lifetime the kernel keeps (whole seconds, rounded up): pass is
// allow, drop is block, hold is a trap for the flow (packets wait, no new
// acquire). When it ends the kernel sends POLEXPIRE and we send
// ExpireShunt; the less specific trap is back by itself. Shunts outlive a
// crashed daemon by at most their lifetime.
func (d *Dataplane) SetShunt(_ context.Context, s kernel.Shunt) error {
	sel, err := flowSel(s.Flow)
	if err != nil {
		return fmt.Errorf("xfrm: %s shunt: %w", s.Kind, err)
	}
	if s.Lifetime <= 0 {
		return fmt.Errorf("xfrm: %s shunt for %s: lifetime %v must be positive", s.Kind, sel, s.Lifetime)
	}
	pol := policy{Sel: sel, Dir: dirOut, Priority: priority(d.opts.PriorityBase, classShunt, sel), HardAdd: s.Lifetime}
	switch s.Kind {
	case kernel.ShuntPass:
	case kernel.ShuntDrop:
		pol.Action = actionBlock
	case kernel.ShuntHold:
		pol.Tmpl = &tmpl{Family: sel.family(), Mode: modeTransport, Reqid: d.opts.ReqIDBase}
	default:
		return fmt.Errorf("xfrm: shunt for %s: unknown kind %d", sel, s.Kind)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if err := d.put(pol); err != nil {
		return fmt.Errorf("xfrm: %s shunt: %w", s.Kind, err)
	}
	s.Expires = d.now().Add(time.Duration(seconds(s.Lifetime)) * time.Second)
	k := polKey{sel, dirOut}
	d.shunts[s.Flow] = shuntEntry{shunt: s, key: k}
	d.shuntKeys[k] = s.Flow
	d.log.Debug("shunt set", "kind", s.Kind, "flow", sel, "lifetime", s.Lifetime, "reason", s.Reason)
	return nil
}

// RemoveShunt implements kernel.Dataplane.
func (d *Dataplane) RemoveShunt(_ context.Context, f kernel.Flow) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	se, ok := d.shunts[f]
	if !ok {
		return fmt.Errorf("xfrm: remove shunt %s→%s: no such shunt", f.Src, f.Dst)
	}
	delete(d.shunts, f)
	delete(d.shuntKeys, se.key)
	if err := d.del(se.key.Sel, se.key.Dir); err != nil {
		return fmt.Errorf("xfrm: remove %s shunt: %w", se.shunt.Kind, err)
	}
	return nil
}

// Shunts implements kernel.Dataplane.
func (d *Dataplane) Shunts(context.Context) ([]kernel.Shunt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.Shunt, 0, len(d.shunts))
	for _, se := range d.shunts {
		out = append(out, se.shunt)
	}
	return out, nil
}
