package userspace

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/kernel"
)

// router owns our routing table and ip rules. Everything it installs is
// recognised by the table number (routes) and by the priority with that
// table (rules), so reconcile and Close remove exactly ours.
type router struct {
	nl *netlink.Handle
	// rs writes the routes of traps and SAs (routesock.go); nl lists,
	// flushes and writes the rules. Both are opened by New.
	rs       *routeSock
	ops      []routeOp // the change being written, kept for the next
	opErrs   []error   // exec's results, likewise
	table    int
	priority int
	mark     uint32
	tunIndex int
}

var families = []int{unix.AF_INET, unix.AF_INET6}

// flush removes every route in our table and our rules.
func (r *router) flush() error {
	var errs []error
	for _, fam := range families {
		routes, err := r.nl.RouteListFiltered(fam, &netlink.Route{Table: r.table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			errs = append(errs, fmt.Errorf("list routes in table %d: %w", r.table, err))
		}
		for i := range routes {
			if err := r.nl.RouteDel(&routes[i]); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %s in table %d: %w", routes[i].Dst, r.table, err))
			}
		}
		rules, err := r.nl.RuleList(fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("list rules: %w", err))
		}
		for i := range rules {
			if rules[i].Priority == r.priority && rules[i].Table == r.table {
				if err := r.nl.RuleDel(&rules[i]); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("delete rule priority %d: %w", r.priority, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// addRules installs "not fwmark mark/mark lookup table" for both families.
func (r *router) addRules() error {
	for _, fam := range families {
		rule := netlink.NewRule()
		rule.Family = fam
		rule.Priority = r.priority
		rule.Table = r.table
		rule.Mark = r.mark
		mask := r.mark
		rule.Mask = &mask
		rule.Invert = true
		if err := r.nl.RuleAdd(rule); err != nil {
			if fam == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return fmt.Errorf("add rule priority %d not fwmark %#x lookup %d: %w", r.priority, r.mark, r.table, err)
		}
	}
	return nil
}

// routesIntoTUN reports whether group g's trap routes into the TUN device:
// every group but clear, clear-or-private (which only responds) and block.
func routesIntoTUN(g kernel.Group) bool {
	switch g {
	case kernel.GroupClear, kernel.GroupClearOrPrivate, kernel.GroupBlock:
		return false
	}
	return true
}

// route returns the route that makes group g happen for prefix p, as the
// Handle takes it: op's route.
func (r *router) route(p netip.Prefix, g kernel.Group) *netlink.Route {
	op := r.op(p, g, false)
	return &netlink.Route{Dst: prefixIPNet(p), Table: r.table, Type: int(op.typ), Scope: netlink.Scope(op.scope), LinkIndex: int(op.oif)}
}

// op is the change that adds (replaces) or deletes the route that makes
// group g happen for prefix p: the same message the Handle would write
// for route(p, g). It is built without a netlink.Route (three allocations
// a route, two routes a CHILD SA).
func (r *router) op(p netip.Prefix, g kernel.Group, del bool) routeOp {
	op := routeOp{del: del, dst: p.Masked(), table: uint32(r.table)}
	switch {
	case routesIntoTUN(g):
		op.oif = uint32(r.tunIndex)
		op.scope = uint8(netlink.SCOPE_LINK)
	case g == kernel.GroupBlock:
		op.typ = unix.RTN_BLACKHOLE
	default: // clear, and clear-or-private, which only responds: outbound stays clear
		op.typ = unix.RTN_THROW
	}
	return op
}

// exec makes the changes in ops, in one sendmsg, and returns each one's
// error as the Handle's RouteReplace and RouteDel would (the slice is
// reused by the next call).
func (r *router) exec(ops []routeOp) []error {
	if cap(r.opErrs) < len(ops) {
		r.opErrs = make([]error, len(ops))
	}
	r.opErrs = r.opErrs[:len(ops)]
	r.rs.exec(ops, r.opErrs)
	return r.opErrs
}

func (r *router) setTrap(p netip.Prefix, g kernel.Group) error {
	r.ops = append(r.ops[:0], r.op(p, g, false))
	if err := r.exec(r.ops)[0]; err != nil {
		return fmt.Errorf("route %s (%s) in table %d: %w", p, g, r.table, err)
	}
	return nil
}

func (r *router) removeTrap(p netip.Prefix, g kernel.Group) error {
	r.ops = append(r.ops[:0], r.op(p, g, true))
	if err := r.exec(r.ops)[0]; err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete route %s (%s) in table %d: %w", p, g, r.table, err)
	}
	return nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ipNetPrefix is the inverse of prefixIPNet.
func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	if len(n.Mask) == net.IPv4len {
		a = a.Unmap()
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits).Masked(), true
}
