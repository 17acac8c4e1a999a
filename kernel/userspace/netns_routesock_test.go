package userspace

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsRouteSockMatchesHandle: the routes routeSock writes are the
// ones the Handle writes for the same route (type, scope, protocol, link,
// table), for each group and both families; its delete removes what the
// Handle added and the Handle's delete what it added; a delete of a
// missing route is ESRCH, as from the Handle.
func TestNetnsRouteSockMatchesHandle(t *testing.T) {
	ns := netnstest.New(t, "rsk")
	nl := ns.Netlink(t)
	d := startDevice(t, ns, Config{})
	r := d.router
	ps := []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8:7::/48")}
	groups := []kernel.Group{kernel.GroupPrivate, kernel.GroupClear, kernel.GroupBlock}
	list := func(fam int) []netlink.Route {
		rs, err := nl.RouteListFiltered(fam, &netlink.Route{Table: r.table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	famOf := func(p netip.Prefix) int {
		if p.Addr().Is4() {
			return unix.AF_INET
		}
		return unix.AF_INET6
	}
	for _, p := range ps {
		for _, g := range groups {
			d.routeMu.Lock()
			if err := r.setTrap(p, g); err != nil {
				t.Fatalf("routeSock add %s %s: %v", p, g, err)
			}
			d.routeMu.Unlock()
			mine := list(famOf(p))
			if err := nl.RouteDel(r.route(p, g)); err != nil {
				t.Fatalf("Handle delete of routeSock's %s %s: %v", p, g, err)
			}
			if err := nl.RouteReplace(r.route(p, g)); err != nil {
				t.Fatal(err)
			}
			theirs := list(famOf(p))
			if len(mine) != 1 || len(theirs) != 1 {
				t.Fatalf("%s %s: routeSock left %d routes, Handle %d", p, g, len(mine), len(theirs))
			}
			m, h := mine[0], theirs[0]
			if m.Type != h.Type || m.Scope != h.Scope || m.Protocol != h.Protocol || m.LinkIndex != h.LinkIndex ||
				m.Table != h.Table || m.Dst.String() != h.Dst.String() || m.Priority != h.Priority {
				t.Errorf("%s %s: routeSock wrote %+v, Handle %+v", p, g, m, h)
			}
			d.routeMu.Lock()
			if err := r.removeTrap(p, g); err != nil {
				t.Fatalf("routeSock delete of Handle's %s %s: %v", p, g, err)
			}
			d.routeMu.Unlock()
			if n := len(list(famOf(p))); n != 0 {
				t.Fatalf("%s %s: %d routes after delete", p, g, n)
			}
		}
	}
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	noDev := r.op(netip.MustParsePrefix("10.0.0.0/8"), kernel.GroupPrivate, false)
	noDev.oif = 1 << 30 // no such device
	r.ops = append(r.ops[:0], r.op(ps[0], kernel.GroupPrivate, true), noDev, r.op(ps[0], kernel.GroupPrivate, false))
	errs := r.exec(r.ops)
	if errs[0] != unix.ESRCH || errs[1] == nil || errs[2] != nil {
		t.Fatalf("batch of a missing delete, an add through a missing device and a good add: errors %v, want ESRCH, an error, nil", errs)
	}
	if n := len(list(unix.AF_INET)); n != 1 {
		t.Fatalf("the good add of the batch: %d routes, want 1", n)
	}
}

// TestNetnsSARouteCost: one CHILD SA's install and delete write one route
// message each, in one sendmsg each, through routeSock (the Handle's
// changes would not count there), and the peer is routed into the TUN
// device while its SA is installed.
func TestNetnsSARouteCost(t *testing.T) {
	ns := netnstest.New(t, "rsc")
	d := startDevice(t, ns, Config{})
	ctx := context.Background()
	la := netip.MustParseAddr("192.0.2.1")
	const n = 50
	pairs := make([]kernel.SAPair, n)
	for i := range pairs {
		pa, _ := testPairs(t, la, netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), kernel.ModeTransport, kernel.AESGCM16, false)
		pa.In.SPI, pa.Out.SPI = uint32(0x1000+i), uint32(0x2000+i)
		pairs[i] = pa
	}
	rs := d.router.rs
	msgs, calls := rs.msgs, rs.calls
	for _, p := range pairs {
		if err := d.InstallSA(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	out := ns.Run(t, "ip", "route", "get", "10.9.0.7")
	for _, p := range pairs {
		if err := d.DeleteSA(ctx, p.ID(), kernel.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out, "dev "+d.TUNName()) {
		t.Fatalf("an installed SA's peer is not routed into %s: %s", d.TUNName(), out)
	}
	if m, c := rs.msgs-msgs, rs.calls-calls; m != 2*n || c != 2*n {
		t.Fatalf("%d installs and deletes wrote %d route messages in %d sendmsg, want %d in %d", n, m, c, 2*n, 2*n)
	}
	if got := tableRoutes(t, ns.Netlink(t), d.router.table); len(got) != 0 {
		t.Fatalf("routes left after every pair was deleted: %v", got)
	}
}
