package xfrm

import (
	"context"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/kernel"
)

// exclusionPolicies are the pass policies of one port exclusion: out for
// our packets, in for the peer's, in the exclusion class, above every SA:
// a tunnel to the peer must not take the excluded flow, and its inbound
// policy must not drop the flow's clear packets.
func (d *Dataplane) exclusionPolicies(x kernel.Exclusion) [2]policy {
	out := selector{Src: x.Local.Masked(), Dst: x.Remote.Masked(), Proto: x.Proto, SrcPort: x.LocalPort, DstPort: x.RemotePort}
	in := selector{Src: out.Dst, Dst: out.Src, Proto: x.Proto, SrcPort: x.RemotePort, DstPort: x.LocalPort}
	return [2]policy{
		{Sel: out, Dir: dirOut, Action: actionAllow, Priority: priority(d.opts.PriorityBase, classExclusion, out)},
		{Sel: in, Dir: dirIn, Action: actionAllow, Priority: priority(d.opts.PriorityBase, classExclusion, in)},
	}
}

// SetExclusions implements kernel.Dataplane: the new exclusions' policies
// go in first, then the old ones that are no longer wanted go, so that a
// reload never leaves a kept exclusion's flow without its pass policy.
func (d *Dataplane) SetExclusions(_ context.Context, xs []kernel.Exclusion) error {
	var pols []policy
	for _, x := range xs {
		if err := x.Check(); err != nil {
			return fmt.Errorf("xfrm: %w", err)
		}
		ps := d.exclusionPolicies(x)
		pols = append(pols, ps[:]...)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	keep := map[polKey]bool{}
	var errs []error
	for _, p := range pols {
		k := polKey{p.Sel, p.Dir}
		if keep[k] {
			continue // two lines with one selector (e.g. both, with source = destination)
		}
		keep[k] = true
		if err := d.put(p); err != nil {
			errs = append(errs, fmt.Errorf("exclusion %s (dir %d): %w", p.Sel, p.Dir, err))
		}
	}
	for _, p := range d.excl {
		if k := (polKey{p.Sel, p.Dir}); !keep[k] {
			if err := d.del(p.Sel, p.Dir); err != nil {
				errs = append(errs, fmt.Errorf("remove exclusion %s (dir %d): %w", p.Sel, p.Dir, err))
			}
		}
	}
	d.excl = d.excl[:0]
	for _, p := range pols {
		if _, owned := d.owned[polKey{p.Sel, p.Dir}]; owned {
			d.excl = append(d.excl, p)
		}
	}
	d.log.Debug("port exclusions set", "exclusions", len(xs), "policies", len(d.excl))
	if len(errs) > 0 {
		return fmt.Errorf("xfrm: %w", errors.Join(errs...))
	}
	return nil
}
