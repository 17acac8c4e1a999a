package userspace

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/kernel"
)

// The guard keeps private and block prefixes out of the main tables when no
// data plane runs: after a crash (the kernel removes the TUN device and
// every route through it), on a clean stop with FailClosed, and in the
// milliseconds of a restart before the traps are routed again.
//
// It is a second routing table with its own ip rules, one per family, of
// lower preference than the data plane's (a higher priority number, still
// before main at 32766) and with the same "not fwmark" selector. It mirrors
// the traps: a blackhole for private and block, a throw for every other
// group, so that a clear prefix nested in a private one is handed on to
// main and not blackholed by the shorter prefix. While the device runs, its
// own table decides first (routes into the TUN device) and the guard is
// only reached for what that table throws or does not hold; when the
// process dies, the lookups fall through to the guard.
//
// With GuardNegotiating the guard also holds a blackhole for each
// destination (a host route, /32 or /128) while the data plane holds a
// flow to it for a negotiation (guardheld.go), so that a crash in the
// middle of one does not send a private-or-clear flow in clear. A host
// route is more specific than any trap's prefix; where a trap is itself
// that host prefix, the blackhole stands in for the trap's route until
// the hold ends, and the trap's comes back.
//
// The guard is never flushed: New adopts what an earlier run left (its
// routes are "stale" until a trap or a hold sets them again), SetTrap and
// RemoveTrap keep it in step, RemoveStaleTraps drops what the new policy
// no longer has, the host routes of the earlier run's negotiations too.
// Close leaves it with FailClosed and removes it without.

// guard owns the guard table and its rules.
type guard struct {
	nl       *netlink.Handle
	table    int
	priority int
	mark     uint32
	// traps is the route type each trap asks for (guardType).
	traps map[netip.Prefix]int
	// held is the host prefixes of the destinations held for a
	// negotiation: blackholed whatever traps says.
	held map[netip.Prefix]struct{}
	// routes is what this run set: prefix → route type.
	routes map[netip.Prefix]int
	// stale is what an earlier run left and this one has not set again.
	stale map[netip.Prefix]int
}

// guardType is the guard route that stands for group g while no data plane
// runs. fail_closed covers private and block; private-or-clear, like clear
// and clear-or-private, falls back to clear when negotiation is impossible,
// which is what a stopped daemon is.
func guardType(g kernel.Group) int {
	if g == kernel.GroupPrivate || g == kernel.GroupBlock {
		return unix.RTN_BLACKHOLE
	}
	return unix.RTN_THROW
}

// openGuard makes sure the guard's rules are in place (adding them only if
// missing, so the guard never has a gap) and adopts the routes in its
// table as stale.
func openGuard(nl *netlink.Handle, table, priority int, mark uint32) (*guard, error) {
	g := &guard{nl: nl, table: table, priority: priority, mark: mark,
		traps: map[netip.Prefix]int{}, held: map[netip.Prefix]struct{}{},
		routes: map[netip.Prefix]int{}, stale: map[netip.Prefix]int{}}
	for _, fam := range families {
		routes, err := nl.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("list routes in guard table %d: %w", table, err)
		}
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			p, ok := ipNetPrefix(r.Dst)
			if !ok {
				continue
			}
			g.stale[p] = r.Type
		}
	}
	if err := g.ensureRules(); err != nil {
		return nil, err
	}
	return g, nil
}

// ensureRules adds "not fwmark mark/mark lookup table" at our priority for
// each family that lacks it.
func (g *guard) ensureRules() error {
	for _, fam := range families {
		rules, err := g.nl.RuleList(fam)
		if err != nil {
			if fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return fmt.Errorf("list rules: %w", err)
		}
		have := false
		for _, r := range rules {
			if r.Priority == g.priority && r.Table == g.table {
				have = true
				break
			}
		}
		if have {
			continue
		}
		rule := netlink.NewRule()
		rule.Family = fam
		rule.Priority = g.priority
		rule.Table = g.table
		rule.Mark = g.mark
		mask := g.mark
		rule.Mask = &mask
		rule.Invert = true
		if err := g.nl.RuleAdd(rule); err != nil {
			if fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return fmt.Errorf("add guard rule priority %d not fwmark %#x lookup %d: %w", g.priority, g.mark, g.table, err)
		}
	}
	return nil
}

func (g *guard) route(p netip.Prefix, typ int) *netlink.Route {
	return &netlink.Route{Dst: prefixIPNet(p), Table: g.table, Type: typ}
}

// set mirrors a trap.
func (g *guard) set(p netip.Prefix, grp kernel.Group) error {
	old, had := g.traps[p]
	g.traps[p] = guardType(grp)
	if err := g.sync(p); err != nil {
		if had {
			g.traps[p] = old
		} else {
			delete(g.traps, p)
		}
		return fmt.Errorf("%s trap: %w", grp, err)
	}
	return nil
}

// remove drops the guard route of a removed trap.
func (g *guard) remove(p netip.Prefix) error {
	delete(g.traps, p)
	return g.sync(p)
}

// hold blackholes the host prefix p of a destination held for a
// negotiation; unhold gives p back to its trap, if any.
func (g *guard) hold(p netip.Prefix) error {
	g.held[p] = struct{}{}
	return g.sync(p)
}

func (g *guard) unhold(p netip.Prefix) error {
	delete(g.held, p)
	return g.sync(p)
}

// sync makes the table's route for p what the traps and the holds ask
// for. Replace changes a route's type in place, so a prefix that keeps a
// route is never without one.
func (g *guard) sync(p netip.Prefix) error {
	typ, want := g.traps[p]
	if _, ok := g.held[p]; ok {
		typ, want = unix.RTN_BLACKHOLE, true
	}
	cur, have := g.routes[p]
	switch {
	case want && have && cur == typ:
	case want:
		if err := g.nl.RouteReplace(g.route(p, typ)); err != nil {
			return fmt.Errorf("guard route %s %s in table %d: %w", routeTypeName(typ), p, g.table, err)
		}
		g.routes[p] = typ
		delete(g.stale, p)
	case have:
		if err := g.nl.RouteDel(g.route(p, cur)); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete guard route %s %s in table %d: %w", routeTypeName(cur), p, g.table, err)
		}
		delete(g.routes, p)
	}
	return nil
}

func routeTypeName(typ int) string {
	switch typ {
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_THROW:
		return "throw"
	}
	return fmt.Sprintf("type %d", typ)
}

// unholdAll gives every held destination back to its trap (a clean stop:
// nothing negotiates any more).
func (g *guard) unholdAll() error {
	var errs []error
	for p := range g.held {
		if err := g.unhold(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStale deletes what an earlier run left and this one has not set
// again; it returns how many.
func (g *guard) removeStale() (int, error) {
	var errs []error
	n := 0
	for p, typ := range g.stale {
		if err := g.nl.RouteDel(g.route(p, typ)); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete stale guard route %s in table %d: %w", p, g.table, err))
			continue
		}
		delete(g.stale, p)
		n++
	}
	return n, errors.Join(errs...)
}

// removeAll deletes every route in the guard table and the guard's rules:
// the clean stop without FailClosed.
func (g *guard) removeAll() error {
	var errs []error
	for _, fam := range families {
		routes, err := g.nl.RouteListFiltered(fam, &netlink.Route{Table: g.table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			errs = append(errs, fmt.Errorf("list routes in guard table %d: %w", g.table, err))
		}
		for i := range routes {
			if err := g.nl.RouteDel(&routes[i]); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete guard route %s in table %d: %w", routes[i].Dst, g.table, err))
			}
		}
		rules, err := g.nl.RuleList(fam)
		if err != nil {
			if fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			errs = append(errs, fmt.Errorf("list rules: %w", err))
		}
		for i := range rules {
			if rules[i].Priority == g.priority && rules[i].Table == g.table {
				if err := g.nl.RuleDel(&rules[i]); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("delete guard rule priority %d: %w", g.priority, err))
				}
			}
		}
	}
	clear(g.traps)
	clear(g.held)
	clear(g.routes)
	clear(g.stale)
	return errors.Join(errs...)
}
