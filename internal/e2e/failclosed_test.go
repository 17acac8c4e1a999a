package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// The fail-closed tests: a has b in its private group and pings it every
// 50 ms throughout; its oemeshd is killed (SIGKILL) or stopped (SIGTERM)
// and started again 3 s later, while the switch counts what crosses the
// wire. With kernel.fail_closed, no echo request may cross in clear from
// the signal until ESP flows again, and ESP must flow within 2 s of the
// restart. docs/failclosed.md says what an administrator sees meanwhile.
// internal/interopvm runs the same on the xfrm data plane.

const (
	pingEvery = 50 * time.Millisecond
	downFor   = 3 * time.Second
	// espWithin is the acceptance bound from the restart (the process
	// started) to ESP from a to b on the wire again.
	espWithin = 2 * time.Second
)

// failClosedMesh starts b (responder) and a (b in its private group) on
// the userspace data plane, and a ping from a to b in ESP; it returns a's
// configuration, for restarts.
func failClosedMesh(t *testing.T, ctx context.Context, failClosed bool) (*lab.Mesh, *lab.Capture, *lab.Pinger, lab.HostConfig) {
	t.Helper()
	m := newMesh(t, lab.MeshOptions{})
	a, b := m.Hosts["a"], m.Hosts["b"]
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "dataplane: userspace\n"})
	hc := lab.HostConfig{
		Policies: map[string]string{"private": b.Addr4.String() + "/32\n", "clear": clearDNS},
		Extra:    fmt.Sprintf("dataplane: userspace\nkernel:\n  fail_closed: %v\n", failClosed),
	}
	start(t, m, ctx, "a", hc)
	c := capture(t, m)
	p, err := lab.StartPinger(ctx, a.Node, b.Addr4, pingEvery)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if c.WaitESP(a.Addr4, b.Addr4, 0, 10*time.Second).IsZero() {
		t.Fatalf("no ESP from a to b: %v", c.Snapshot())
	}
	time.Sleep(300 * time.Millisecond) // steady traffic in the tunnel
	if n := c.Snapshot().From(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Fatalf("%d cleartext echo requests a→b before any restart", n)
	}
	return m, c, p, hc
}

func outage(t *testing.T, ctx context.Context, m *lab.Mesh, c *lab.Capture, p *lab.Pinger, hc lab.HostConfig, sig syscall.Signal) lab.Outage {
	t.Helper()
	sent0, _ := p.Sent()
	o, err := m.StopAndRestart(ctx, c, "a", "b", hc, sig, downFor)
	if err != nil {
		t.Fatalf("%v; wire: %v", err, c.Snapshot())
	}
	t.Log(o)
	checkSent(t, p, sent0, pingEvery)
	return o
}

// checkSealed fails unless the outage leaked nothing and ESP came back in time.
func checkSealed(t *testing.T, what string, o lab.Outage) {
	t.Helper()
	if n := o.Clear(); n != 0 {
		t.Errorf("%s: %d cleartext echo requests a→b crossed the wire (%d while down, %d during the restart, %d after ESP resumed), want 0",
			what, n, o.ClearDown, o.ClearRestart, o.ClearAfter)
	}
	checkESPBack(t, what, o)
}

func checkESPBack(t *testing.T, what string, o lab.Outage) {
	t.Helper()
	if o.ESPAfter > espWithin {
		t.Errorf("%s: ESP from a to b again %v after the restart, want within %v", what, o.ESPAfter, espWithin)
	}
	if min := int(time.Second / pingEvery / 2); o.ESPLast < min {
		t.Errorf("%s: %d ESP packets a→b in the second after ESP resumed, want ≥ %d", what, o.ESPLast, min)
	}
}

// TestFailClosedUserspace: with kernel.fail_closed, neither SIGKILL nor
// SIGTERM of the initiator lets an echo request to its private peer cross
// in clear, and ESP flows within 2 s of the restart.
func TestFailClosedUserspace(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, c, p, hc := failClosedMesh(t, ctx, true)
	checkSealed(t, "fail_closed, SIGKILL", outage(t, ctx, m, c, p, hc, syscall.SIGKILL))
	checkSealed(t, "fail_closed, SIGTERM", outage(t, ctx, m, c, p, hc, syscall.SIGTERM))
}

// TestFailOpenUserspace: without kernel.fail_closed a crash still leaks
// nothing (the guard outlives the process: only a clean stop removes it),
// but a clean stop lets the private peer's traffic go in clear until the
// restart.
func TestFailOpenUserspace(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, c, p, hc := failClosedMesh(t, ctx, false)
	checkSealed(t, "no fail_closed, SIGKILL", outage(t, ctx, m, c, p, hc, syscall.SIGKILL))
	o := outage(t, ctx, m, c, p, hc, syscall.SIGTERM)
	// 3 s down at 50 ms: about 60 in clear; ask for a third of that.
	if min := int(downFor / pingEvery / 3); o.ClearDown < min {
		t.Errorf("no fail_closed, SIGTERM: %d cleartext echo requests a→b while down, want ≥ %d (clear while stopped)", o.ClearDown, min)
	}
	if o.ClearAfter != 0 {
		t.Errorf("no fail_closed, SIGTERM: %d cleartext echo requests a→b after ESP resumed", o.ClearAfter)
	}
	checkESPBack(t, "no fail_closed, SIGTERM", o)
}

// checkSent fails unless the pinger kept sending through the outage (3 s
// down and a second after ESP resumed): zero cleartext must not come from
// an idle sender.
func checkSent(t *testing.T, p *lab.Pinger, before int, every time.Duration) {
	t.Helper()
	sent, failed := p.Sent()
	if min := int((downFor + time.Second) / every * 3 / 4); sent-before < min {
		t.Errorf("the pinger sent %d echo requests during the outage (%d sends failed), want ≥ %d", sent-before, failed, min)
	}
}
