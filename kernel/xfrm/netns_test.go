package xfrm

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
	"golang.org/x/sys/unix"
)

// Tests in this file run on the host kernel in namespaces they create: they
// need root but no ESP, so they run in CI on this machine.

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// open starts a data plane in ns and closes it at the end of the test if
// the test did not.
func open(t testing.TB, ns *netnstest.NS, opts Options) *Dataplane {
	t.Helper()
	opts.NetNS = "/run/netns/" + ns.Name
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("xfrm.New in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		d.mu.Lock()
		closed := d.closed
		d.mu.Unlock()
		if !closed {
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return d
}

// inspect opens a second netlink view into ns, to check what the kernel holds.
func inspect(t testing.TB, ns *netnstest.NS) *executor {
	t.Helper()
	e, err := startExecutor("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	return e
}

func waitAcquire(t testing.TB, d *Dataplane, within time.Duration) kernel.Acquire {
	t.Helper()
	select {
	case a := <-d.Acquires():
		return a
	case <-time.After(within):
		t.Fatalf("no acquire within %v", within)
	}
	return kernel.Acquire{}
}

func waitExpire(t testing.TB, d *Dataplane, kind kernel.ExpireKind, within time.Duration) kernel.Expire {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-d.Expires():
			if e.Kind == kind {
				return e
			}
			t.Logf("ignoring %s expire %+v", e.Kind, e)
		case <-deadline:
			t.Fatalf("no %s expire within %v", kind, within)
		}
	}
}

// udpFrom sends one datagram from a socket made inside ns.
func udpFrom(t testing.TB, ns *netnstest.NS, dst netip.AddrPort, bypass bool) netip.AddrPort {
	t.Helper()
	var local netip.AddrPort
	err := ns.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		if bypass {
			fam := unix.AF_INET
			if dst.Addr().Is6() {
				fam = unix.AF_INET6
			}
			if err := BypassConn(c, fam); err != nil {
				return err
			}
		}
		local = c.LocalAddr().(*net.UDPAddr).AddrPort()
		_, err = c.Write([]byte("oemesh"))
		return err
	})
	if err != nil {
		t.Fatalf("send UDP to %s from %s: %v", dst, ns.Name, err)
	}
	return local
}

func TestTrapAcquiresV4V6(t *testing.T) {
	p := netnstest.NewPair(t, "xacq")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		trap   netip.Prefix
		group  kernel.Group
		dst    netip.Addr
		src    netip.Addr
		dport  uint16
		family string
	}{
		{netip.MustParsePrefix("192.0.2.0/24"), kernel.GroupPrivateOrClear, p.B4, p.A4, 7777, "IPv4"},
		{netip.MustParsePrefix("2001:db8::2/128"), kernel.GroupPrivate, p.B6, p.A6, 8888, "IPv6"},
	} {
		if err := d.SetTrap(ctx, kernel.Trap{Prefix: tc.trap, Group: tc.group}); err != nil {
			t.Fatalf("%s: %v", tc.family, err)
		}
		local := udpFrom(t, p.A, netip.AddrPortFrom(tc.dst, tc.dport), false)
		a := waitAcquire(t, d, 5*time.Second)
		want := kernel.Flow{Src: tc.src, Dst: tc.dst, Proto: unix.IPPROTO_UDP, SrcPort: local.Port(), DstPort: tc.dport}
		if a.Flow != want || a.Trap != tc.trap || a.Group != tc.group {
			t.Fatalf("%s acquire = %+v, want flow %+v trap %s group %s", tc.family, a, want, tc.trap, tc.group)
		}
		t.Logf("%s acquire: %+v", tc.family, a)
	}
	// A more specific clear trap overrides the /24: no acquire, the packet passes.
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(p.B4, 32), Group: kernel.GroupClear}); err != nil {
		t.Fatal(err)
	}
	if out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "2", p.B4.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping through a /32 clear trap inside a /24 private-or-clear trap: %v\n%s", err, out)
	}
	if err := d.RemoveTrap(ctx, netip.PrefixFrom(p.B4, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestShuntsPassAndDrop(t *testing.T) {
	p := netnstest.NewPair(t, "xshu")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Group: kernel.GroupPrivate}); err != nil {
		t.Fatal(err)
	}
	ping := func() (string, error) {
		out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "2", p.B4.String()).CombinedOutput()
		return string(out), err
	}
	if out, err := ping(); err == nil {
		t.Fatalf("ping passed under a private trap with no SA:\n%s", out)
	}
	flow := kernel.Flow{Src: p.A4, Dst: p.B4}
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: flow, Kind: kernel.ShuntPass, Lifetime: time.Minute, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if out, err := ping(); err != nil {
		t.Fatalf("ping under a pass shunt failed: %v\n%s", err, out)
	}
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: flow, Kind: kernel.ShuntDrop, Lifetime: time.Minute}); err != nil {
		t.Fatal(err)
	}
	out, err := ping()
	if err == nil || !strings.Contains(out, "not permitted") {
		t.Fatalf("ping under a drop shunt: err %v, want 'Operation not permitted':\n%s", err, out)
	}
	sh, _ := d.Shunts(ctx)
	if len(sh) != 1 || sh[0].Kind != kernel.ShuntDrop || sh[0].Expires.IsZero() {
		t.Fatalf("Shunts = %+v, want one drop shunt with an expiry", sh)
	}
	if err := d.RemoveShunt(ctx, flow); err != nil {
		t.Fatal(err)
	}
	if out, err := ping(); err == nil {
		t.Fatalf("ping passed after the shunt was removed (trap should hold it):\n%s", out)
	}
}

func TestShuntLifetimeExpires(t *testing.T) {
	p := netnstest.NewPair(t, "xsle")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("2001:db8::/64"), Group: kernel.GroupPrivateOrClear}); err != nil {
		t.Fatal(err)
	}
	flow := kernel.Flow{Src: p.A6, Dst: p.B6}
	start := time.Now()
	// 3 s, not 1: under TCG in the VM starting ping alone can take a
	// second, and the ping must run while the shunt is still there.
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: flow, Kind: kernel.ShuntPass, Lifetime: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "3", p.B6.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping6 under a pass shunt: %v\n%s", err, out)
	}
	e := waitExpire(t, d, kernel.ExpireShunt, 10*time.Second)
	if e.Flow != flow {
		t.Fatalf("shunt expire for %+v, want %+v", e.Flow, flow)
	}
	t.Logf("3 s shunt expired after %v", time.Since(start).Round(10*time.Millisecond))
	if sh, _ := d.Shunts(ctx); len(sh) != 0 {
		t.Fatalf("Shunts after expiry = %+v", sh)
	}
	pols, err := inspect(t, p.A).policies()
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range pols {
		if pol.Sel.Dst == hostPrefix(p.B6) {
			t.Fatalf("shunt policy still in the kernel: %s", pol)
		}
	}
	// The trap is back: the next packet raises an acquire again.
	udpFrom(t, p.A, netip.AddrPortFrom(p.B6, 9), false)
	if a := waitAcquire(t, d, 5*time.Second); a.Flow.Dst != p.B6 {
		t.Fatalf("acquire after shunt expiry: %+v", a)
	}
}

func TestAllocSPIExpires(t *testing.T) {
	p := netnstest.NewPair(t, "xspi")
	p.A.Sysctl(t, "net/core/xfrm_acq_expires", "2")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	look := inspect(t, p.A)
	for _, pr := range [][2]netip.Addr{{p.B4, p.A4}, {p.B6, p.A6}} {
		spi, err := d.AllocSPI(ctx, pr[0], pr[1])
		if err != nil {
			t.Fatal(err)
		}
		if spi < 0x100 {
			t.Fatalf("allocated SPI %#x is in the reserved range", spi)
		}
		si, err := look.getState(pr[1], spi)
		if err != nil {
			t.Fatalf("allocated SPI %#x not in the kernel: %v", spi, err)
		}
		if !d.ourReqid(si.Reqid) {
			t.Fatalf("allocated SA reqid %#x outside our band", si.Reqid)
		}
		e := waitExpire(t, d, kernel.ExpireSPI, 8*time.Second)
		if e.SA.InSPI != spi || e.SA.Peer != pr[0] {
			t.Fatalf("SPI expire %+v, want spi %#x peer %s", e, spi, pr[0])
		}
		if _, err := look.getState(pr[1], spi); !errors.Is(err, unix.ESRCH) {
			t.Fatalf("lapsed SPI %#x still readable: %v", spi, err)
		}
	}
}

func TestBypassOnIKESockets(t *testing.T) {
	p := netnstest.NewPair(t, "xbyp")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	for _, tr := range []string{"192.0.2.0/24", "2001:db8::/64"} {
		if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix(tr), Group: kernel.GroupPrivate}); err != nil {
			t.Fatal(err)
		}
	}
	for _, dst := range []netip.Addr{p.B4, p.B6} {
		var rx *net.UDPConn
		if err := p.B.Do(func() (err error) {
			rx, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 500)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got := func() bool {
			buf := make([]byte, 64)
			_ = rx.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := rx.ReadFromUDP(buf)
			return err == nil && string(buf[:n]) == "oemesh"
		}
		udpFrom(t, p.A, netip.AddrPortFrom(dst, 500), false)
		if got() {
			t.Fatalf("%s: IKE packet without bypass crossed a private trap", dst)
		}
		if a := waitAcquire(t, d, 2*time.Second); a.Flow.DstPort != 500 {
			t.Fatalf("acquire for the unbypassed IKE packet: %+v", a)
		}
		udpFrom(t, p.A, netip.AddrPortFrom(dst, 500), true)
		if !got() {
			t.Fatalf("%s: IKE packet from a bypassed socket did not arrive", dst)
		}
		rx.Close()
	}
	// UDP_ENCAP on the 4500 socket (decapsulation itself is shown in the VM).
	if err := p.A.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 4500})
		if err != nil {
			return err
		}
		defer c.Close()
		return EncapConn(c)
	}); err != nil {
		t.Fatal(err)
	}
}

// foreignPolicy installs a policy outside our band, as an administrator would.
func foreignPolicy(t testing.TB, ns *netnstest.NS) {
	ns.Run(t, "ip", "xfrm", "policy", "add", "src", "192.0.2.1/32", "dst", "203.0.113.0/24", "dir", "out", "action", "block", "priority", "100")
}

func foreignSurvives(t testing.TB, ns *netnstest.NS) {
	t.Helper()
	out := ns.Run(t, "ip", "xfrm", "policy", "list")
	if !strings.Contains(out, "203.0.113.0/24") {
		t.Fatalf("foreign policy removed:\n%s", out)
	}
}

func populate(t testing.TB, d *Dataplane, p *netnstest.Pair) {
	t.Helper()
	ctx := context.Background()
	for _, tr := range []kernel.Trap{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Group: kernel.GroupPrivateOrClear},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Group: kernel.GroupPrivate},
		{Prefix: netip.MustParsePrefix("2001:db8::/64"), Group: kernel.GroupPrivate},
		{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Group: kernel.GroupBlock},
	} {
		if err := d.SetTrap(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: kernel.Flow{Src: p.A4, Dst: p.B4}, Kind: kernel.ShuntPass, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AllocSPI(ctx, p.B4, p.A4); err != nil {
		t.Fatal(err)
	}
	udpFrom(t, p.A, netip.AddrPortFrom(p.B6, 9), false) // a larval state under a trap
	waitAcquire(t, d, 5*time.Second)
}

func TestCloseAndReconcileRemoveExactlyOurs(t *testing.T) {
	p := netnstest.NewPair(t, "xrec")
	look := inspect(t, p.A)
	foreignPolicy(t, p.A)
	larval := func() string {
		v, err := look.readSysctl(larvalDropPath)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := larval(); v != "1" {
		t.Fatalf("fresh namespace has xfrm_larval_drop=%s, want the default 1", v)
	}

	d := open(t, p.A, Options{})
	if v := larval(); v != "0" {
		t.Fatalf("xfrm_larval_drop=%s after New, want 0", v)
	}
	populate(t, d, p)
	if np, ns := ours(t, look); np < 5 || ns < 2 {
		t.Fatalf("after populate: %d policies and %d SAs of ours, want ≥5 and ≥2", np, ns)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if np, ns := ours(t, look); np != 0 || ns != 0 {
		t.Fatalf("after Close: %d policies and %d SAs of ours left", np, ns)
	}
	foreignSurvives(t, p.A)
	if v := larval(); v != "1" {
		t.Fatalf("xfrm_larval_drop=%s after Close, want 1 restored", v)
	}

	// A daemon killed without Close: the next start removes its leftovers.
	crashed := open(t, p.A, Options{})
	populate(t, crashed, p)
	crashed.sub.Close() // the kernel state stays as after SIGKILL
	<-crashed.readerOK
	crashed.mu.Lock()
	crashed.closed = true
	crashed.mu.Unlock()
	crashed.ex.stop()
	if np, _ := ours(t, look); np == 0 {
		t.Fatal("simulated crash left nothing to reconcile")
	}
	// The restart removes SAs, SA and shunt policies, but keeps the four
	// trap policies (no gap before the policy is loaded again); the one
	// trap set again is taken over, the others go in RemoveStaleTraps.
	d2 := open(t, p.A, Options{})
	if np, _ := ours(t, look); np != 4 {
		t.Fatalf("after restart: %d policies of the crashed run left, want its 4 traps", np)
	}
	if ns := keyedOurs(t, look); ns != 0 {
		t.Fatalf("after restart: %d keyed SAs of the crashed run left, want none", ns)
	}
	ctx := context.Background()
	if err := d2.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Group: kernel.GroupPrivate}); err != nil {
		t.Fatalf("set a trap the crashed run left: %v", err)
	}
	if n, err := d2.RemoveStaleTraps(ctx); n != 3 || err != nil {
		t.Fatalf("RemoveStaleTraps: %d, %v; want 3", n, err)
	}
	if np, _ := ours(t, look); np != 1 {
		t.Fatalf("after RemoveStaleTraps: %d policies of ours, want the 1 trap set again", np)
	}
	foreignSurvives(t, p.A)
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	if np, ns := ours(t, look); np != 0 || ns != 0 {
		t.Fatalf("after Close: %d policies and %d SAs of ours left", np, ns)
	}
}

// TestFailClosedKeepsPrivateBlocked: Close with FailClosed leaves private
// blocked and private-or-clear clear; the next start keeps both until
// RemoveStaleTraps.
func TestFailClosedKeepsPrivateBlocked(t *testing.T) {
	p := netnstest.NewPair(t, "xfcl")
	look := inspect(t, p.A)
	foreignPolicy(t, p.A)
	d := open(t, p.A, Options{FailClosed: true})
	ctx := context.Background()
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("192.0.2.2/32"), Group: kernel.GroupPrivate}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("2001:db8::/64"), Group: kernel.GroupPrivateOrClear}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "1", p.B4.String()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not permitted") {
		t.Fatalf("private prefix not blocked while the daemon is down: %v\n%s", err, out)
	}
	if out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "2", p.B6.String()).CombinedOutput(); err != nil {
		t.Fatalf("private-or-clear prefix not clear after Close: %v\n%s", err, out)
	}
	if np, _ := ours(t, look); np != 2 {
		t.Fatalf("after a fail-closed Close: %d policies of ours, want 2 (block for private, pass for private-or-clear)", np)
	}
	// The restart keeps them until the policy is in: still blocked.
	d2 := open(t, p.A, Options{})
	if np, _ := ours(t, look); np != 2 {
		t.Fatalf("restart left %d policies of ours, want the 2 kept until RemoveStaleTraps", np)
	}
	if out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "1", p.B4.String()).CombinedOutput(); err == nil || !strings.Contains(string(out), "not permitted") {
		t.Fatalf("private prefix not blocked after the restart, before its trap is set: %v\n%s", err, out)
	}
	if n, err := d2.RemoveStaleTraps(ctx); n != 2 || err != nil {
		t.Fatalf("RemoveStaleTraps: %d, %v; want 2", n, err)
	}
	if np, _ := ours(t, look); np != 0 {
		t.Fatalf("after RemoveStaleTraps: %d policies of ours", np)
	}
	foreignSurvives(t, p.A)
}

func TestErrorsCarryKernelMessage(t *testing.T) {
	ns := netnstest.New(t, "xerr")
	d := open(t, ns, Options{})
	ctx := context.Background()
	pair := kernel.SAPair{
		In:   kernel.SA{SPI: 0x2001, Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"), AEAD: kernel.AESGCM16, Key: make([]byte, 20)},
		Out:  kernel.SA{SPI: 0x2002, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), AEAD: kernel.AESGCM16, Key: make([]byte, 20)},
		Mode: kernel.ModeTransport,
	}
	var err error
	if Probe().Usable {
		// A kernel with ESP: provoke an error another way, an SPI clash.
		if err = d.InstallSA(ctx, pair); err != nil {
			t.Fatal(err)
		}
		pair.In.SPI, pair.Out.SPI = 0x2003, 0x2002 // outbound SPI 0x2002 exists
		err = d.InstallSA(ctx, pair)
		if err == nil || !strings.Contains(err.Error(), "spi 0x00002002") {
			t.Fatalf("install over an existing SA: %v, want an error naming spi 0x00002002", err)
		}
		return
	}
	err = d.InstallSA(ctx, pair)
	if err == nil {
		t.Fatal("SA installed on a kernel whose probe says it has no ESP")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "spi 0x00002001") {
		t.Fatalf("error does not name the SA: %v", err)
	}
	if !strings.Contains(err.Error(), ": Requested") {
		t.Fatalf("error lacks the kernel's extended ack message: %v", err)
	}
}

func TestProbe(t *testing.T) {
	netnstest.Need(t)
	c := Probe()
	t.Logf("probe: usable=%v aeads=%v reason=%q", c.Usable, c.AEADs, c.Reason)
	if c.Reason == "" {
		t.Fatal("probe gave no reason")
	}
	if os.Getenv("OEMESH_IN_VM") == "1" && !c.Usable {
		t.Fatalf("Debian's kernel in the VM should carry ESP: %s", c.Reason)
	}
	if !c.Usable && !strings.Contains(c.Reason, "cannot install ESP SAs") {
		t.Fatalf("unusable without saying why: %q", c.Reason)
	}
	name, reason, err := kernel.Choose(kernel.BackendAuto, func() kernel.Capability { return c })
	if err != nil || (c.Usable != (name == kernel.BackendXFRM)) || !strings.Contains(reason, c.Reason) {
		t.Fatalf("Choose(auto) = %s, %q, %v", name, reason, err)
	}
}

// BenchmarkTrapSetRemove sets and removes b.N /32 traps (one policy each)
// on this kernel: the netlink path of kernel/xfrm without ESP.
func BenchmarkTrapSetRemove(b *testing.B) {
	ns := netnstest.New(b, "xbtr")
	d := open(b, ns, Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	prefixes := make([]netip.Prefix, b.N)
	for i := range prefixes {
		prefixes[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}), 32)
	}
	b.ResetTimer()
	for _, p := range prefixes {
		if err := d.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernel.GroupPrivateOrClear}); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range prefixes {
		if err := d.RemoveTrap(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
