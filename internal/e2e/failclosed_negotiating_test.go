package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestFailClosedNegotiatingUserspace: a has b in private-or-clear and
// pings it every 50 ms, but a's resolver answers 10 s late, so the first
// negotiation is still waiting for b's key when a's oemeshd is killed
// (SIGKILL) 2 s into it. a stays down 3 s while the switch counts what
// crosses the wire, then starts again with the resolver fast, and the flow
// must come up encrypted.
//
// With kernel.guard_negotiating no echo request crosses in clear from the
// kill until ESP flows: the guard's blackhole for b, put in while the
// flow was held, outlives the process, and the restart keeps it until its
// policy is in. Without it the guard only has the private-or-clear
// prefix's throw, and the echoes go in clear while a is down (about 60 in
// 3 s): the difference docs/failclosed.md describes.
func TestFailClosedNegotiatingUserspace(t *testing.T) {
	const negotiatingFor = 2 * time.Second // before the kill; the resolver takes 10 s
	for _, tc := range []struct {
		name string
		on   bool
	}{{"guard_negotiating", true}, {"without", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, 40*time.Second)
			m := newMesh(t, lab.MeshOptions{})
			a, b := m.Hosts["a"], m.Hosts["b"]
			start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "dataplane: userspace\n"})
			hc := lab.HostConfig{
				Policies:   map[string]string{"private-or-clear": b.Addr4.String() + "/32\n", "clear": clearDNS},
				Extra:      fmt.Sprintf("dataplane: userspace\nkernel:\n  guard_negotiating: %v\n", tc.on),
				DNSTimeout: 15 * time.Second, // wait for the slow resolver rather than fail over to clear
			}
			start(t, m, ctx, "a", hc)
			m.DNS.SetFault(a.Addr4, lab.DNSFault{Delay: 10 * time.Second})
			c := capture(t, m)
			clear := func() int { return c.Snapshot().From(a.Addr4, b.Addr4, lab.KindICMP) }
			p, err := lab.StartPinger(ctx, a.Node, b.Addr4, pingEvery)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			time.Sleep(negotiatingFor)
			// Still negotiating: held, neither clear nor ESP yet.
			if s := c.Snapshot(); s.From(a.Addr4, b.Addr4, lab.KindICMP) != 0 || s.From(a.Addr4, b.Addr4, lab.KindESP) != 0 {
				t.Fatalf("a→b before the kill: %d cleartext echo requests, %d ESP; want 0 and 0 (the flow held while a waits for DNS): %v",
					s.From(a.Addr4, b.Addr4, lab.KindICMP), s.From(a.Addr4, b.Addr4, lab.KindESP), s)
			}

			sent0, _ := p.Sent()
			if err := m.StopDaemon("a", syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			time.Sleep(downFor)
			clearDown := clear()
			if sent, failed := p.Sent(); sent-sent0 < int(downFor/pingEvery*3/4) {
				t.Errorf("the pinger sent %d echo requests while a was down (%d sends failed), want ≥ %d", sent-sent0, failed, int(downFor/pingEvery*3/4))
			}

			m.DNS.SetFault(a.Addr4, lab.DNSFault{})
			logged := len(m.Log("a"))
			restarted := time.Now()
			esp0 := c.Snapshot().From(a.Addr4, b.Addr4, lab.KindESP)
			start(t, m, ctx, "a", hc)
			espAt := c.WaitESP(a.Addr4, b.Addr4, esp0, 10*time.Second)
			if espAt.IsZero() {
				t.Fatalf("no ESP from a to b within 10 s of the restart; a's log:\n%s", tail(m.Log("a")[logged:], 40))
			}
			clearRestart := clear() - clearDown
			back := c.Snapshot().From(b.Addr4, a.Addr4, lab.KindESP)
			time.Sleep(time.Second)
			clearAfter := clear() - clearDown - clearRestart
			t.Logf("%d cleartext echo requests a→b while down, %d during the restart, %d after; ESP again %v after the restart",
				clearDown, clearRestart, clearAfter, espAt.Sub(restarted).Round(time.Millisecond))
			if n := c.Snapshot().From(b.Addr4, a.Addr4, lab.KindESP) - back; n < int(time.Second/pingEvery/2) {
				t.Errorf("%d ESP packets b→a in the second after ESP resumed, want ≥ %d (b answers through the tunnel)", n, int(time.Second/pingEvery/2))
			}
			if clearAfter != 0 {
				t.Errorf("%d cleartext echo requests a→b after ESP resumed", clearAfter)
			}
			if tc.on {
				if clearDown+clearRestart != 0 {
					t.Errorf("%d cleartext echo requests a→b crossed the wire (%d while down, %d during the restart), want 0: the destination held for a negotiation must stay blocked",
						clearDown+clearRestart, clearDown, clearRestart)
				}
				return
			}
			// 3 s down at 50 ms: about 60 in clear; ask for a third of that.
			if min := int(downFor / pingEvery / 3); clearDown < min {
				t.Errorf("%d cleartext echo requests a→b while down, want ≥ %d: without guard_negotiating a negotiating private-or-clear flow goes clear after a crash", clearDown, min)
			}
		})
	}
}
