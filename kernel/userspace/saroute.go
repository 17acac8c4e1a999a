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
		if d.saRoutes[pfx] == 1 {
			ops = append(ops, r.op(pfx, kernel.GroupPrivate, false))
		}
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
