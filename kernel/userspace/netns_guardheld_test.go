package userspace

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsGuardNegotiating: with GuardNegotiating a destination held for
// a negotiation has a blackhole in the guard for as long as it is held,
// whatever ends the hold (a drop shunt, an SA, the hold timeout, the trap's
// removal); a crash in the middle keeps it blocked, where without the
// option its private-or-clear prefix's throw sends it in clear; the next
// start keeps that blackhole until its policy is in and RemoveStaleTraps
// runs; a clean stop removes it. Without the option nothing but the
// traps' routes is ever in the guard. Both destinations are private-or-clear: one is trapped by its own
// host prefix (the blackhole stands in for the trap's throw, which comes
// back), the other by a wider prefix.
func TestNetnsGuardNegotiating(t *testing.T) {
	t.Run("on", func(t *testing.T) { testGuardNegotiating(t, true) })
	t.Run("off", func(t *testing.T) { testGuardNegotiating(t, false) })
}

func testGuardNegotiating(t *testing.T, on bool) {
	p := netnstest.NewPair(t, "ugn")
	nl := p.A.Netlink(t)
	ctx := context.Background()
	defaults, _ := (&Config{}).withDefaults()

	// A receiver on B counts what reaches it in clear.
	got := p.B.UDPSink(t, "udp", ":9")
	c := p.A.UDPConn(t, "udp", ":0")
	send := func(dst netip.Addr) error {
		_, err := c.WriteTo([]byte("negotiating"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		return err
	}

	peer4 := host(p.B4)                         // private-or-clear, its own host prefix
	net6 := netip.PrefixFrom(p.B6, 64).Masked() // private-or-clear, wider than the host
	traps := map[string]int{peer4.String(): unix.RTN_THROW, net6.String(): unix.RTN_THROW}
	// want is the guard with the traps and, with the option, a blackhole
	// for each held destination.
	want := func(base map[string]int, held ...netip.Addr) map[string]int {
		m := maps.Clone(base)
		if on {
			for _, a := range held {
				m[host(a).String()] = unix.RTN_BLACKHOLE
			}
		}
		return m
	}
	guard := func() map[string]int { return tableRoutes(t, nl, defaults.GuardTable) }
	// waitGuard waits for the guard to become w (it changes off the packet
	// path) and then checks that it stays so: without the option, a
	// blackhole that would come late must not go unseen.
	waitGuard := func(what string, w map[string]int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !equalTypes(guard(), w) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(150 * time.Millisecond)
		if g := guard(); !equalTypes(g, w) {
			t.Fatalf("%s: guard %v, want %v", what, g, w)
		}
	}
	hold := func(d *Device, dst netip.Addr) kernel.Acquire {
		t.Helper()
		if err := send(dst); err != nil {
			t.Fatal(err)
		}
		a := waitAcquire(t, d, 5*time.Second)
		if a.Flow.Dst != dst {
			t.Fatalf("acquire for %s, want %s", a.Flow.Dst, dst)
		}
		waitHeld(t, d, 1)
		return a
	}

	d := startDevice(t, p.A, Config{GuardNegotiating: on})
	trap(t, d, peer4, kernel.GroupPrivateOrClear)
	trap(t, d, net6, kernel.GroupPrivateOrClear)
	waitGuard("traps only", traps)

	// A drop shunt ends the hold.
	a := hold(d, p.B6)
	waitGuard("held (IPv6, wider trap)", want(traps, p.B6))
	drop := kernel.Shunt{Flow: kernel.Flow{Src: a.Flow.Src, Dst: p.B6}, Kind: kernel.ShuntDrop, Lifetime: time.Minute}
	if err := d.SetShunt(ctx, drop); err != nil {
		t.Fatal(err)
	}
	waitGuard("after a drop shunt", traps)
	if err := d.RemoveShunt(ctx, drop.Flow); err != nil {
		t.Fatal(err)
	}

	// An SA ends the hold; the host trap's throw comes back.
	hold(d, p.B4)
	waitGuard("held (IPv4, host trap)", want(traps, p.B4))
	pa, _ := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, false)
	if err := d.InstallSA(ctx, pa); err != nil {
		t.Fatal(err)
	}
	waitGuard("after the SA", traps)

	// Held at the crash: the kernel removes the TUN device and the sockets
	// of a killed process, and nothing else.
	hold(d, p.B6)
	waitGuard("held at the crash", want(traps, p.B6))
	_ = d.tun.Close()
	d.socks.close()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := nl.LinkByName(d.TUNName()); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the TUN device outlived its file descriptor")
		}
	}
	got.Reset()
	var sendErr error
	for range 20 {
		if err := send(p.B6); err != nil {
			sendErr = err
		}
		time.Sleep(10 * time.Millisecond)
	}
	if on {
		time.Sleep(300 * time.Millisecond)
		if n := got.Count(); n != 0 {
			t.Fatalf("after the crash: %d of 20 datagrams to the destination held for a negotiation reached it in clear, want 0", n)
		}
		if !errors.Is(sendErr, unix.EINVAL) {
			t.Errorf("after the crash: send to the held destination: %v, want EINVAL from the guard's blackhole", sendErr)
		}
	} else {
		for deadline := time.Now().Add(2 * time.Second); got.Count() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if got.Count() == 0 {
			t.Fatalf("after the crash without the option: nothing reached the private-or-clear peer in clear (send error %v); the check above proves nothing", sendErr)
		}
	}
	out, _ := p.A.Command(ctx, "ip", "-6", "route", "get", p.B6.String()).CombinedOutput()
	if blackholed := strings.Contains(string(out), "blackhole") || strings.Contains(string(out), "Invalid argument"); blackholed != on {
		t.Errorf("after the crash: ip route get %s: %s", p.B6, out)
	}
	waitGuard("after the crash", want(traps, p.B6))

	// The next start keeps the crashed run's blackhole until its policy is
	// in, then removes it with the other stale routes. It also shows the
	// hold timeout and a removed trap ending a hold.
	d2 := startDevice(t, p.A, Config{GuardNegotiating: on, FailClosed: true, HoldTimeout: 300 * time.Millisecond, Tick: 50 * time.Millisecond})
	waitGuard("restarted, before the traps", want(traps, p.B6))
	trap(t, d2, peer4, kernel.GroupPrivateOrClear)
	trap(t, d2, net6, kernel.GroupPrivateOrClear)
	n, err := d2.RemoveStaleTraps(ctx)
	if wantN := map[bool]int{true: 1, false: 0}[on]; err != nil || n != wantN {
		t.Fatalf("RemoveStaleTraps: %d, %v; want %d", n, err, wantN)
	}
	waitGuard("restarted, after RemoveStaleTraps", traps)

	hold(d2, p.B4)
	waitGuard("held again", want(traps, p.B4))
	for deadline := time.Now().Add(2 * time.Second); d2.Stats().HeldFlows != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if s := d2.Stats(); s.HeldFlows != 0 || s.Dropped["hold-timeout"] == 0 {
		t.Fatalf("the hold did not time out: %+v", s)
	}
	waitGuard("after the hold timeout", traps)

	hold(d2, p.B6)
	waitGuard("held before the trap goes", want(traps, p.B6))
	if err := d2.RemoveTrap(ctx, net6); err != nil {
		t.Fatal(err)
	}
	delete(traps, net6.String())
	waitGuard("after RemoveTrap", traps)
	if s := d2.Stats(); s.HeldFlows != 0 || s.Dropped["no-trap"] == 0 {
		t.Fatalf("the held flow of a removed trap is still held: %+v", s)
	}

	// A clean stop (here with FailClosed, which keeps the guard) decides
	// the negotiations: what is still held goes back to its trap's route.
	hold(d2, p.B4)
	waitGuard("held at a clean stop", want(traps, p.B4))
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	if g := guard(); !equalTypes(g, traps) {
		t.Fatalf("after Close with FailClosed: guard %v, want %v", g, traps)
	}
}
