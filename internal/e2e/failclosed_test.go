package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
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

const (
	pingEvery = 50 * time.Millisecond
	downFor   = 3 * time.Second
	// espWithin is the acceptance bound from the restart (the process
	// started) to the first ESP packet from a to b on the wire.
	espWithin = 2 * time.Second
)

// failClosedMesh starts b (responder) and a (b in its private group) on
// the userspace data plane and returns a's configuration, for restarts.
func failClosedMesh(t *testing.T, ctx context.Context, failClosed bool) (*lab.Mesh, lab.HostConfig) {
	t.Helper()
	m := newMesh(t, lab.MeshOptions{})
	b := m.Hosts["b"]
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "dataplane: userspace\n"})
	a := lab.HostConfig{
		Policies: map[string]string{"private": b.Addr4.String() + "/32\n", "clear": clearDNS},
		Extra:    fmt.Sprintf("dataplane: userspace\nkernel:\n  fail_closed: %v\n", failClosed),
	}
	start(t, m, ctx, "a", a)
	return m, a
}

// pinger runs ping from a node until stopped, starting it again when it
// exits (ping gives up when its first connect meets a blackhole).
type pinger struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	runs int
}

func startPinger(t *testing.T, ctx context.Context, n *lab.Node, dst netip.Addr) *pinger {
	p := &pinger{stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(p.done)
		for {
			cmd := n.Command(ctx, "ping", "-n", "-q", "-i", fmt.Sprintf("%.3f", pingEvery.Seconds()), dst.String())
			p.mu.Lock()
			p.runs++
			p.mu.Unlock()
			_ = cmd.Run()
			select {
			case <-p.stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(pingEvery):
			}
		}
	}()
	var once sync.Once
	stopFn := func() {
		once.Do(func() { close(p.stop); cancel(); <-p.done })
	}
	t.Cleanup(stopFn)
	return p
}

// waitESP waits until more than after ESP packets from src to dst were
// counted, and returns when (zero if not within d).
func waitESP(c *lab.Capture, src, dst netip.Addr, after int, d time.Duration) time.Time {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.Snapshot().From(src, dst, lab.KindESP) > after {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}
}

// outage is what the wire showed around one stop and restart of a.
type outage struct {
	clearDown    int           // cleartext echo requests a→b from the signal to the restart
	clearRestart int           // from the restart until ESP a→b flowed again
	clearAfter   int           // in the second after ESP flowed again
	espAfter     time.Duration // from the restart to the first ESP a→b
}

// stopAndRestart sends sig to a's daemon, waits downFor, starts it again
// and counts the cleartext echo requests from a to b in each phase.
func stopAndRestart(t *testing.T, ctx context.Context, m *lab.Mesh, c *lab.Capture, hc lab.HostConfig, sig syscall.Signal) outage {
	t.Helper()
	a, b := m.Hosts["a"].Addr4, m.Hosts["b"].Addr4
	clear := func() int { return c.Snapshot().From(a, b, lab.KindICMP) }
	if waitESP(c, a, b, 0, 10*time.Second).IsZero() {
		t.Fatalf("no ESP from a to b before the %v: %v", sig, c.Snapshot())
	}
	time.Sleep(300 * time.Millisecond) // steady traffic in the tunnel
	if n := clear(); n != 0 {
		t.Fatalf("%d cleartext echo requests a→b before the %v", n, sig)
	}
	signalled := time.Now()
	if err := m.StopDaemon("a", sig); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(signalled.Add(downFor)))
	var o outage
	o.clearDown = clear()
	espBefore := c.Snapshot().From(a, b, lab.KindESP)
	restarted := time.Now()
	start(t, m, ctx, "a", hc)
	esp := waitESP(c, a, b, espBefore, 10*time.Second)
	if esp.IsZero() {
		t.Fatalf("no ESP from a to b within 10 s of the restart after %v; wire: %v", sig, c.Snapshot())
	}
	o.espAfter = esp.Sub(restarted)
	o.clearRestart = clear() - o.clearDown
	time.Sleep(time.Second)
	o.clearAfter = clear() - o.clearDown - o.clearRestart
	t.Logf("%v: %d cleartext echo requests while down, %d during the restart, %d after; ESP again %v after the restart",
		sig, o.clearDown, o.clearRestart, o.clearAfter, o.espAfter.Round(time.Millisecond))
	return o
}

// checkSealed fails unless the outage leaked nothing and ESP came back in time.
func checkSealed(t *testing.T, what string, o outage) {
	t.Helper()
	if n := o.clearDown + o.clearRestart + o.clearAfter; n != 0 {
		t.Errorf("%s: %d cleartext echo requests a→b crossed the wire (%d while down, %d during the restart, %d after ESP resumed), want 0",
			what, n, o.clearDown, o.clearRestart, o.clearAfter)
	}
	if o.espAfter > espWithin {
		t.Errorf("%s: ESP from a to b again %v after the restart, want within %v", what, o.espAfter, espWithin)
	}
}

// TestFailClosedUserspace: with kernel.fail_closed, neither SIGKILL nor
// SIGTERM of the initiator lets an echo request to its private peer cross
// in clear, and ESP flows within 2 s of the restart.
func TestFailClosedUserspace(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, hc := failClosedMesh(t, ctx, true)
	c := capture(t, m)
	startPinger(t, ctx, m.Hosts["a"].Node, m.Hosts["b"].Addr4)
	checkSealed(t, "fail_closed, SIGKILL", stopAndRestart(t, ctx, m, c, hc, syscall.SIGKILL))
	c.Reset()
	checkSealed(t, "fail_closed, SIGTERM", stopAndRestart(t, ctx, m, c, hc, syscall.SIGTERM))
}

// TestFailOpenUserspace: without kernel.fail_closed a crash still leaks
// nothing (the guard outlives the process: only a clean stop removes it),
// but a clean stop lets the private peer's traffic go in clear until the
// restart.
func TestFailOpenUserspace(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, hc := failClosedMesh(t, ctx, false)
	c := capture(t, m)
	startPinger(t, ctx, m.Hosts["a"].Node, m.Hosts["b"].Addr4)
	checkSealed(t, "no fail_closed, SIGKILL", stopAndRestart(t, ctx, m, c, hc, syscall.SIGKILL))
	c.Reset()
	o := stopAndRestart(t, ctx, m, c, hc, syscall.SIGTERM)
	// 3 s down at 50 ms: about 60 in clear; ask for a third of that.
	if min := int(downFor / pingEvery / 3); o.clearDown < min {
		t.Errorf("no fail_closed, SIGTERM: %d cleartext echo requests a→b while down, want ≥ %d (clear while stopped)", o.clearDown, min)
	}
	if o.clearAfter != 0 {
		t.Errorf("no fail_closed, SIGTERM: %d cleartext echo requests a→b after ESP resumed", o.clearAfter)
	}
	if o.espAfter > espWithin {
		t.Errorf("no fail_closed, SIGTERM: ESP from a to b again %v after the restart, want within %v", o.espAfter, espWithin)
	}
}
