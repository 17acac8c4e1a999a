package oe

import (
	"context"
	"errors"
	"net/netip"
)

// ClearShunts removes the shunts oe set toward dst, or toward every
// destination when dst is the zero Addr (`oemesh shunts clear`), and
// returns the flows it cleared. The flows' traps are back: their next
// packet starts a new negotiation, without waiting out the shunt lifetime
// after an operator fixed what made OE fail. A shunt of a negotiation
// still under way (negotiation_shunt pass) stays: the negotiation owns it.
func (o *OE) ClearShunts(ctx context.Context, dst netip.Addr) ([]ShuntStatus, error) {
	dst = dst.Unmap()
	now := o.cfg.Clock.Now()
	o.mu.Lock()
	var clear []ShuntStatus
	for f, s := range o.shunts {
		if dst.IsValid() && f.Dst != dst {
			continue
		}
		if _, negotiating := o.negotiations[f.Dst]; negotiating {
			continue
		}
		delete(o.shunts, f)
		if s.Expires.After(now) {
			clear = append(clear, ShuntStatus{Flow: s.Flow, Kind: s.Kind, Group: s.group, Reason: s.Reason, Expires: s.Expires})
		}
	}
	o.mu.Unlock()
	var errs []error
	for _, s := range clear {
		if err := o.dp.RemoveShunt(ctx, s.Flow); err != nil {
			errs = append(errs, err)
		}
	}
	if len(clear) > 0 {
		o.log.Info("shunts cleared", "dst", dst, "count", len(clear))
	}
	return clear, errors.Join(errs...)
}
