package userspace

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/kernel"
)

// An installed SA is also a policy: traffic to its remote selectors must
// enter the TUN device even when no trap routes it there — on a responder
// in clear-or-private (whose trap throws the prefix back to the main
// tables), or for a peer whose trap was removed. saRoutes counts the SA
// pairs that need each remote prefix routed into the TUN device; a rekey
// installs the new pair before deleting the old, so the count never drops
// to zero in between.
//
// The route changes of one pair go to the kernel in one sendmsg, however
// many selectors it has (routesock.go).
//
// A selector that a trap into the TUN device already covers is not routed
// (saSkipped): an OE host's private or private-or-clear group (0.0.0.0/0,
// say) sends every peer's traffic there already, and a host route of the
// same kind under it changes no lookup. "Covers" is decided by the longest
// trap strictly containing the selector, the one the kernel's lookup falls
// to without the selector's route: routes between the two are SA routes,
// into the TUN device too, and routes inside the selector win with or
// without it. A selector with a trap of its own is routed as before (its
// trap's route is replaced while pairs use it). Before a trap change could
// uncover a skipped selector (a trap set over it that does not route into
// the TUN device, or removed), SetTrap and RemoveTrap route it
// (routeUncovered), so that no lookup ever misses the TUN device while
// the pair is installed.

// coveredByTrap reports whether a trap into the TUN device is the longest
// trap strictly containing s, and s has no trap of its own. d.routeMu is
// held (it orders every change of traps).
func (d *Device) coveredByTrap(s netip.Prefix) bool {
	if _, ok := d.traps[s]; ok {
		return false
	}
	for bits := s.Bits() - 1; bits >= 0; bits-- {
		p, _ := s.Addr().Prefix(bits)
		if g, ok := d.traps[p]; ok {
			return routesIntoTUN(g)
		}
	}
	return false
}

// routeUncovered routes the skipped selectors that a trap change at p to
// group g (remove: the trap goes) may uncover: those p holds or is, unless
// g routes into the TUN device and p is not one of them. d.routeMu is held.
func (d *Device) routeUncovered(p netip.Prefix, g kernel.Group, remove bool) error {
	if len(d.saSkipped) == 0 || d.router == nil {
		return nil
	}
	r := d.router
	ops := r.ops[:0]
	for s := range d.saSkipped {
		if !p.Contains(s.Addr()) || p.Bits() > s.Bits() {
			continue
		}
		if !remove && routesIntoTUN(g) && p != s {
			continue
		}
		ops = append(ops, r.op(s, kernel.GroupPrivate, false))
	}
	r.ops = ops
	if len(ops) == 0 {
		return nil
	}
	var errs []error
	for i, err := range r.exec(ops) {
		if err != nil {
			errs = append(errs, fmt.Errorf("route SA selector %s into %s: %w", ops[i].dst, d.cfg.TUNName, err))
			continue
		}
		delete(d.saSkipped, ops[i].dst)
	}
	return errors.Join(errs...)
}

// addSARoutes routes p's remote selectors into the TUN device. d.routeMu
// is held (d.mu may be: a route costs a netlink round trip, and InstallSA
// adds it without). On an error nothing stays counted or routed for p.
func (d *Device) addSARoutes(p kernel.SAPair) error {
	if d.saRoutes == nil {
		d.saRoutes = make(map[netip.Prefix]int)
	}
	r := d.router
	if r == nil { // a unit test's bare device
		for _, pfx := range p.Remote {
			d.saRoutes[pfx.Masked()]++
		}
		return nil
	}
	ops := r.ops[:0]
	for _, pfx := range p.Remote {
		pfx = pfx.Masked()
		d.saRoutes[pfx]++
		if d.saRoutes[pfx] > 1 {
			continue
		}
		if d.coveredByTrap(pfx) {
			if d.saSkipped == nil {
				d.saSkipped = make(map[netip.Prefix]struct{})
			}
			d.saSkipped[pfx] = struct{}{}
			continue
		}
		ops = append(ops, r.op(pfx, kernel.GroupPrivate, false))
	}
	r.ops = ops
	if len(ops) == 0 {
		return nil
	}
	var errs []error
	var failed []netip.Prefix
	for i, err := range r.exec(ops) {
		if err != nil {
			errs = append(errs, fmt.Errorf("route SA selector %s into %s: %w", ops[i].dst, d.cfg.TUNName, err))
			failed = append(failed, ops[i].dst)
		}
	}
	if errs == nil {
		return nil
	}
	// Undo this call's counts: a selector that failed was counted from
	// zero and never routed; the others go back as removeSARoutes does.
	var rest []netip.Prefix
	for _, pfx := range p.Remote {
		pfx = pfx.Masked()
		if slices.Contains(failed, pfx) {
			if d.saRoutes[pfx]--; d.saRoutes[pfx] <= 0 {
				delete(d.saRoutes, pfx)
			}
			continue
		}
		rest = append(rest, pfx)
	}
	if err := d.removeSARoutes(rest); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeSARoutes undoes addSARoutes: the last pair using a prefix gives it
// back to its trap (or to the main tables when it has none). d.routeMu
// is held, as for addSARoutes.
func (d *Device) removeSARoutes(remote []netip.Prefix) error {
	r := d.router
	var ops []routeOp
	if r != nil {
		ops = r.ops[:0]
	}
	for _, pfx := range remote {
		pfx = pfx.Masked()
		if d.saRoutes[pfx] == 0 {
			continue
		}
		d.saRoutes[pfx]--
		if d.saRoutes[pfx] > 0 {
			continue
		}
		delete(d.saRoutes, pfx)
		if _, ok := d.saSkipped[pfx]; ok {
			delete(d.saSkipped, pfx) // never routed
			continue
		}
		if r == nil {
			continue
		}
		if g, ok := d.traps[pfx]; ok {
			ops = append(ops, r.op(pfx, g, false))
		} else {
			ops = append(ops, r.op(pfx, kernel.GroupPrivate, true))
		}
	}
	if len(ops) == 0 {
		return nil
	}
	r.ops = ops
	for i, err := range r.exec(ops) {
		if err != nil && !(ops[i].del && errors.Is(err, errNoRoute)) {
			return fmt.Errorf("restore route for %s: %w", ops[i].dst, err)
		}
	}
	return nil
}
