package userspace

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsGuardOutlivesTheDevice: the guard mirrors the traps (blackhole
// for private and block, throw for the rest, so a clear prefix nested in a
// private one is not blackholed); Close with FailClosed leaves it and its
// rules; the next start adopts it without a gap, keeps what a trap sets
// again and drops the rest in RemoveStaleTraps; Close without FailClosed
// removes it.
func TestNetnsGuardOutlivesTheDevice(t *testing.T) {
	p := netnstest.NewPair(t, "ugd")
	nl := p.A.Netlink(t)
	cfg, _ := (&Config{}).withDefaults()
	ctx := context.Background()
	guardRoutes := func() map[string]int { return tableRoutes(t, nl, cfg.GuardTable) }
	guardRules := func() int { return countRules(t, nl, cfg.GuardPriority, cfg.GuardTable, cfg.FwMark) }
	routeGet := func(dst netip.Addr) string {
		b, _ := p.A.Command(ctx, "ip", "route", "get", dst.String()).CombinedOutput()
		return string(b)
	}
	// A lookup that ends in a blackhole fails with EINVAL.
	blackholed := func(out string) bool {
		return strings.Contains(out, "blackhole") || strings.Contains(out, "Invalid argument")
	}
	peer := host(p.B4)                                   // private
	wide := netip.MustParsePrefix("198.51.100.0/24")     // private
	nested := netip.MustParsePrefix("198.51.100.128/25") // clear inside it
	poc := netip.MustParsePrefix("203.0.113.0/24")       // private-or-clear
	blocked := netip.MustParsePrefix("2001:db8:77::/48") // block
	gone := netip.MustParsePrefix("2001:db8:99::/48")    // private, dropped from the next policy

	d := startDevice(t, p.A, Config{FailClosed: true})
	trap(t, d, peer, kernel.GroupPrivate)
	trap(t, d, wide, kernel.GroupPrivate)
	trap(t, d, nested, kernel.GroupClear)
	trap(t, d, poc, kernel.GroupPrivateOrClear)
	trap(t, d, blocked, kernel.GroupBlock)
	trap(t, d, gone, kernel.GroupPrivate)
	want := map[string]int{
		peer.String(): unix.RTN_BLACKHOLE, wide.String(): unix.RTN_BLACKHOLE, nested.String(): unix.RTN_THROW,
		poc.String(): unix.RTN_THROW, blocked.String(): unix.RTN_BLACKHOLE, gone.String(): unix.RTN_BLACKHOLE,
	}
	if got := guardRoutes(); !equalTypes(got, want) {
		t.Fatalf("guard while running: %v, want %v", got, want)
	}
	if n := guardRules(); n != 2 {
		t.Fatalf("%d guard rules, want 2 (IPv4, IPv6)", n)
	}
	// While the device runs its own table decides.
	if out := routeGet(p.B4); !strings.Contains(out, "dev "+d.TUNName()) {
		t.Fatalf("running: route to the private peer: %s", out)
	}

	if out := routeGet(netip.MustParseAddr("198.51.100.7")); !strings.Contains(out, "dev "+d.TUNName()) {
		t.Fatalf("running: route into the private prefix: %s", out)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if out := routeGet(netip.MustParseAddr("198.51.100.7")); !blackholed(out) {
		t.Fatalf("stopped: route into the private prefix: %s", out)
	}
	if got := guardRoutes(); !equalTypes(got, want) {
		t.Fatalf("guard after Close with FailClosed: %v, want %v", got, want)
	}
	if n := guardRules(); n != 2 {
		t.Fatalf("%d guard rules after Close with FailClosed, want 2", n)
	}
	if out := routeGet(p.B4); !blackholed(out) {
		t.Fatalf("stopped: route to the private peer is not the guard's blackhole: %s", out)
	}
	if out := routeGet(netip.MustParseAddr("198.51.100.200")); blackholed(out) {
		t.Fatalf("stopped: the clear prefix nested in a private one is blackholed: %s", out)
	}

	// The next start keeps the guard: nothing reaches main before the traps
	// are routed again.
	d2 := startDevice(t, p.A, Config{})
	if got := guardRoutes(); !equalTypes(got, want) || guardRules() != 2 {
		t.Fatalf("guard after the next start: %v (%d rules), want %v", got, guardRules(), want)
	}
	if out := routeGet(p.B4); !blackholed(out) {
		t.Fatalf("restarted, before the traps: route to the private peer: %s", out)
	}
	for _, pfx := range []netip.Prefix{peer, wide, nested, poc, blocked} {
		g := kernel.GroupPrivate
		switch pfx {
		case nested:
			g = kernel.GroupClear
		case poc:
			g = kernel.GroupPrivateOrClear
		case blocked:
			g = kernel.GroupBlock
		}
		trap(t, d2, pfx, g)
	}
	n, err := d2.RemoveStaleTraps(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTraps: %d, %v; want 1 (%s)", n, err, gone)
	}
	delete(want, gone.String())
	if got := guardRoutes(); !equalTypes(got, want) {
		t.Fatalf("guard after RemoveStaleTraps: %v, want %v", got, want)
	}
	if err := d2.RemoveTrap(ctx, wide); err != nil {
		t.Fatal(err)
	}
	if _, ok := guardRoutes()[wide.String()]; ok {
		t.Fatalf("guard route of a removed trap left: %v", guardRoutes())
	}

	// Without FailClosed a clean stop removes the guard.
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	if got, n := guardRoutes(), guardRules(); len(got) != 0 || n != 0 {
		t.Fatalf("after Close without FailClosed: guard routes %v, %d rules", got, n)
	}
}

func equalTypes(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConfigTables: the guard's table and priority default after ours and
// are checked.
func TestConfigTables(t *testing.T) {
	c, err := (&Config{Table: 100, RulePriority: 200}).withDefaults()
	if err != nil || c.GuardTable != 101 || c.GuardPriority != 201 {
		t.Fatalf("defaults: %d %d %v", c.GuardTable, c.GuardPriority, err)
	}
	for _, bad := range []Config{
		{GuardTable: 4322},
		{GuardTable: 254},
		{Table: 255},
		{RulePriority: 5000, GuardPriority: 4000},
		{GuardPriority: 32766},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestNetnsNoGapAcrossCloseAndRestart: a sender that never pauses keeps
// sending to a private peer while the device closes (FailClosed) and the
// next one starts and sets its trap again; not one datagram may reach the
// peer. (The TUN device used to go before the blackholes came, and the
// start flushed them before the traps were routed again.)
func TestNetnsNoGapAcrossCloseAndRestart(t *testing.T) {
	p := netnstest.NewPair(t, "ugg")
	got := p.B.UDPSink(t, "udp4", p.B4.String()+":9")
	c := p.A.UDPConn(t, "udp4", ":0")
	// The path is clear before the data plane starts: the count means something.
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.B4, 9))
	deadline := time.Now().Add(2 * time.Second)
	for got.Count() == 0 && time.Now().Before(deadline) {
		_, _ = c.WriteTo([]byte("before"), to)
		time.Sleep(10 * time.Millisecond)
	}
	if got.Count() == 0 {
		t.Fatal("the peer receives nothing even without a data plane")
	}

	d1 := startDevice(t, p.A, Config{FailClosed: true})
	trap(t, d1, host(p.B4), kernel.GroupPrivate)
	time.Sleep(50 * time.Millisecond) // the last clear datagrams land
	got.Reset()
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.WriteTo([]byte("leak?"), to)
			sent.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	d2 := startDevice(t, p.A, Config{FailClosed: true})
	time.Sleep(20 * time.Millisecond)
	trap(t, d2, host(p.B4), kernel.GroupPrivate)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	<-done
	time.Sleep(50 * time.Millisecond)
	if n := got.Count(); n != 0 {
		t.Fatalf("%d of %d datagrams to the private peer reached it in clear across Close and the restart", n, sent.Load())
	}
	t.Logf("%d datagrams sent across Close and the restart, none arrived", sent.Load())
}
