package userspace

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsRoutesReconcileAndClose: routes and rules left by a crashed run
// are removed at start; traps become routes of the right type in our table;
// the rule skips our fwmark; Close removes all of it and the TUN device.
func TestNetnsRoutesReconcileAndClose(t *testing.T) {
	ns := netnstest.New(t, "usr")
	nl := ns.Netlink(t)
	cfg, _ := (&Config{}).withDefaults()
	stale := &netlink.Route{Dst: prefixIPNet(netip.MustParsePrefix("203.0.113.0/24")), Table: cfg.Table, Type: unix.RTN_BLACKHOLE}
	if err := nl.RouteAdd(stale); err != nil {
		t.Fatal(err)
	}
	staleRule := netlink.NewRule()
	staleRule.Priority, staleRule.Table, staleRule.Family = cfg.RulePriority, cfg.Table, unix.AF_INET
	if err := nl.RuleAdd(staleRule); err != nil {
		t.Fatal(err)
	}

	d := startDevice(t, ns, Config{})
	ctx := context.Background()
	routes := func() map[string]int { return tableRoutes(t, nl, cfg.Table) }
	rules := func() int { return countRules(t, nl, cfg.RulePriority, cfg.Table, cfg.FwMark) }
	if got := routes(); len(got) != 0 {
		t.Fatalf("stale routes survived the start: %v", got)
	}
	if n := rules(); n != 2 {
		t.Fatalf("%d rules at priority %d, want 2 (IPv4, IPv6)", n, cfg.RulePriority)
	}
	trap(t, d, netip.MustParsePrefix("198.51.100.0/24"), kernel.GroupPrivateOrClear)
	trap(t, d, netip.MustParsePrefix("198.51.100.128/25"), kernel.GroupClear)
	trap(t, d, netip.MustParsePrefix("198.51.100.64/26"), kernel.GroupBlock)
	trap(t, d, netip.MustParsePrefix("2001:db8:5::/48"), kernel.GroupPrivate)
	want := map[string]int{
		"198.51.100.0/24": unix.RTN_UNICAST, "198.51.100.128/25": unix.RTN_THROW,
		"198.51.100.64/26": unix.RTN_BLACKHOLE, "2001:db8:5::/48": unix.RTN_UNICAST,
	}
	got := routes()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("route %s: type %d, want %d (all %v)", k, got[k], v, got)
		}
	}
	// Replacing a trap's group changes its route; removing it deletes it.
	trap(t, d, netip.MustParsePrefix("198.51.100.64/26"), kernel.GroupPrivate)
	if err := d.RemoveTrap(ctx, netip.MustParsePrefix("198.51.100.128/25")); err != nil {
		t.Fatal(err)
	}
	got = routes()
	if got["198.51.100.64/26"] != unix.RTN_UNICAST || len(got) != 3 {
		t.Fatalf("after replace and remove: %v", got)
	}
	// Marked traffic bypasses the table; unmarked goes to the TUN device.
	out := ns.Run(t, "ip", "route", "get", "198.51.100.9")
	if !strings.Contains(out, "dev "+d.TUNName()) {
		t.Fatalf("unmarked route: %s", out)
	}
	// (This namespace has no other route: marked traffic is unreachable.)
	b, _ := ns.Command(ctx, "ip", "route", "get", "198.51.100.9", "mark", "0x10e2").CombinedOutput()
	if out = string(b); strings.Contains(out, d.TUNName()) {
		t.Fatalf("marked route still trapped: %s", out)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := routes(); len(got) != 0 {
		t.Fatalf("routes left after Close: %v", got)
	}
	if n := rules(); n != 0 {
		t.Fatalf("%d rules left after Close", n)
	}
	if _, err := nl.LinkByName(d.TUNName()); err == nil {
		t.Fatal("TUN device left after Close")
	}
	if _, ok := <-d.Acquires(); ok {
		t.Fatal("acquire channel open after Close")
	}
}

// TestNetnsMarkedSocketBypassesTrap: a UDP socket with SocketControl's mark
// reaches a trapped peer in clear (as IKE must), while an unmarked one is
// held for an SA.
func TestNetnsMarkedSocketBypassesTrap(t *testing.T) {
	p := netnstest.NewPair(t, "usk")
	da := startDevice(t, p.A, Config{})
	trap(t, da, host(p.B4), kernel.GroupPrivate)
	var ln net.PacketConn
	if err := p.B.Do(func() (err error) { ln, err = net.ListenPacket("udp4", p.B4.String()+":500"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	send := func(marked bool) {
		t.Helper()
		lc := net.ListenConfig{}
		if marked {
			lc.Control = da.SocketControl()
		}
		var c net.PacketConn
		if err := p.A.Do(func() (err error) { c, err = lc.ListenPacket(context.Background(), "udp4", ":0"); return }); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.WriteTo([]byte(fmt.Sprintf("marked=%v", marked)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.B4, 500))); err != nil {
			t.Fatal(err)
		}
	}
	send(false)
	send(true)
	buf := make([]byte, 64)
	_ = ln.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := ln.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "marked=true" {
		t.Fatalf("got %q, %v; want only the marked datagram", buf[:n], err)
	}
	_ = ln.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := ln.ReadFrom(buf); err == nil {
		t.Fatalf("unmarked datagram %q crossed in clear", buf[:n])
	}
	if s := da.Stats(); s.HeldPackets != 1 {
		t.Fatalf("the unmarked datagram is not held: %+v", s)
	}
}
