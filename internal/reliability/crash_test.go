package reliability

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

const (
	// crashPingEvery is a's echo rate toward b throughout a crash run.
	crashPingEvery = 50 * time.Millisecond
	// crashDown is how long a's daemon stays dead.
	crashDown = 3 * time.Second
	// crashResume bounds the time from the restart (the process started)
	// to the first answered echo, and to a's first ESP, on the wire.
	crashResume = 2 * time.Second
	// guardPriority is the userspace data plane's guard rule priority
	// (kernel/userspace.Config.GuardPriority's default): the guard_removed
	// run deletes those rules to show what the capture sees without it.
	guardPriority = "4323"
)

// TestCrashPrivate: a has b in its private group on the userspace data
// plane and pings it every 50 ms; a capture on the switch runs the whole
// time; a's oemeshd is killed (SIGKILL) mid-ping, stays down 3 s while
// the pings go on, and starts again.
//
//   - fail_closed: zero cleartext from a to b on the wire, from the kill
//     until a second after ESP resumed; the first answered echo (b's first
//     ESP on the new tunnel) and a's first ESP within 2 s of the restart;
//     a's kernel state (links, rules, routes of every table, XFRM) after
//     the restart the same as before the kill, and b holding one tunnel
//     with a, not the killed run's too.
//   - without_fail_closed: the same run, reported: after SIGKILL the guard
//     table still keeps b's traffic off the wire (fail_closed decides only
//     what a clean stop leaves), so the difference shows at SIGTERM, also
//     run and reported.
//   - guard_removed: fail_closed, but the guard's ip rules are deleted
//     before the kill, standing for a data plane without the guard: the
//     capture must count the echoes that then go in clear, which shows
//     that the zero-cleartext check can fail.
//
// internal/e2e's TestFailClosedUserspace and TestFailOpenUserspace run
// the same outage (lab.Mesh.StopAndRestart); this scenario adds the time
// to the first answer, the stale-state check and the figures.
// internal/interopvm's TestInVMFailClosedXFRM is the xfrm half.
func TestCrashPrivate(t *testing.T) {
	for _, tc := range []struct {
		name          string
		failClosed    bool
		removeGuard   bool
		alsoSIGTERM   bool
		wantSealed    bool
		wantLeakCheck bool // the check must see cleartext
	}{
		{name: "fail_closed", failClosed: true, wantSealed: true},
		{name: "without_fail_closed", alsoSIGTERM: true},
		{name: "guard_removed", failClosed: true, removeGuard: true, wantLeakCheck: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t)
			ctx := ctxT(t, 90*time.Second)
			a, b := m.Hosts["a"], m.Hosts["b"]
			start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies, Extra: "dataplane: userspace\n"})
			hc := lab.HostConfig{
				Policies: map[string]string{"private": b.Addr4.String() + "/32\n", "clear": clearDNS},
				Extra:    fmt.Sprintf("dataplane: userspace\nkernel:\n  fail_closed: %v\n", tc.failClosed),
			}
			start(t, m, ctx, "a", hc)
			c, err := lab.StartCapture(m.Sw)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Stop() })
			p, err := lab.StartPinger(ctx, a.Node, b.Addr4, crashPingEvery)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			if c.WaitESP(a.Addr4, b.Addr4, 0, 10*time.Second).IsZero() {
				t.Fatalf("no ESP from a to b: %v", c.Snapshot())
			}
			time.Sleep(300 * time.Millisecond)
			if n := c.Snapshot().From(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
				t.Fatalf("%d cleartext echo requests a→b before the kill", n)
			}
			before, err := a.Node.ReadNetState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.removeGuard {
				for _, fam := range []string{"-4", "-6"} {
					if out, err := a.Node.Command(ctx, "ip", fam, "rule", "del", "priority", guardPriority).CombinedOutput(); err != nil {
						t.Fatalf("removing a's guard rule (%s): %v: %s", fam, err, out)
					}
				}
			}

			o := crashOutage(t, ctx, m, c, p, hc, syscall.SIGKILL)
			t.Logf("FIGURE crash under private (userspace, %s, SIGKILL): %d cleartext packets a→b leaked (%d while down, %d during the restart, %d after ESP resumed) of %d echoes sent in the outage; first answered echo %v after the restart, a's ESP %v after it (%v after its first log line)",
				tc.name, o.Clear(), o.ClearDown, o.ClearRestart, o.ClearAfter, o.sent, o.AnsweredAfter.Round(time.Millisecond),
				o.ESPAfter.Round(time.Millisecond), o.ESPAfterLog.Round(time.Millisecond))

			switch {
			case tc.wantSealed:
				if n := o.Clear(); n != 0 {
					t.Errorf("%d cleartext echo requests a→b crossed the wire (%d while down, %d during the restart, %d after ESP resumed), want 0",
						n, o.ClearDown, o.ClearRestart, o.ClearAfter)
				}
			case tc.wantLeakCheck:
				// A third of the echoes while down: the capture sees them.
				if min := int(crashDown / crashPingEvery / 3); o.ClearDown < min {
					t.Errorf("without the guard the capture counted %d cleartext echo requests a→b while down, want ≥ %d: the zero-cleartext check could not fail", o.ClearDown, min)
				}
			}
			checkResumed(t, o.Outage)
			checkNoStaleState(t, ctx, m, before)

			if tc.alsoSIGTERM {
				o := crashOutage(t, ctx, m, c, p, hc, syscall.SIGTERM)
				t.Logf("FIGURE crash under private (userspace, %s, SIGTERM): %d cleartext packets a→b leaked (%d while down, %d during the restart, %d after ESP resumed) of %d echoes sent in the outage; first answered echo %v after the restart",
					tc.name, o.Clear(), o.ClearDown, o.ClearRestart, o.ClearAfter, o.sent, o.AnsweredAfter.Round(time.Millisecond))
				if min := int(crashDown / crashPingEvery / 3); o.ClearDown < min {
					t.Errorf("without fail_closed a clean stop let %d echo requests a→b go in clear while down, want ≥ %d (the difference fail_closed makes)", o.ClearDown, min)
				}
				checkResumed(t, o.Outage)
			}
		})
	}
}

// crashRun is one outage and how many echoes the pinger sent during it.
type crashRun struct {
	lab.Outage
	sent int
}

// crashOutage stops a's daemon with sig, restarts it after crashDown and
// checks that the pinger kept sending all along: zero cleartext must not
// come from an idle sender.
func crashOutage(t *testing.T, ctx context.Context, m *lab.Mesh, c *lab.Capture, p *lab.Pinger, hc lab.HostConfig, sig syscall.Signal) crashRun {
	t.Helper()
	sent0, _ := p.Sent()
	o, err := m.StopAndRestart(ctx, c, "a", "b", hc, sig, crashDown)
	if err != nil {
		t.Fatalf("%v; wire: %v", err, c.Snapshot())
	}
	sent, failed := p.Sent()
	if min := int((crashDown + time.Second) / crashPingEvery * 3 / 4); sent-sent0 < min {
		t.Errorf("the pinger sent %d echo requests during the outage (%d sends failed), want ≥ %d", sent-sent0, failed, min)
	}
	return crashRun{Outage: o, sent: sent - sent0}
}

// checkResumed fails unless encrypted traffic came back both ways within
// crashResume of the restart.
func checkResumed(t *testing.T, o lab.Outage) {
	t.Helper()
	if o.AnsweredAfter == 0 || o.AnsweredAfter > crashResume {
		t.Errorf("first answered echo (ESP b→a on the new tunnel) %v after the restart, want within %v (0: none seen)", o.AnsweredAfter, crashResume)
	}
	if o.ESPAfter > crashResume {
		t.Errorf("ESP a→b again %v after the restart, want within %v", o.ESPAfter, crashResume)
	}
	if min := int(time.Second / crashPingEvery / 2); o.ESPLast < min {
		t.Errorf("%d ESP packets a→b in the second after ESP resumed, want ≥ %d", o.ESPLast, min)
	}
}

// checkNoStaleState fails unless a's kernel state is what it was before
// the kill (one TUN device, the same rules and routes, the same XFRM
// state: none on userspace) and b holds one tunnel with a, within 10 s
// (b learns of the restart from the new IKE SA's INITIAL_CONTACT).
func checkNoStaleState(t *testing.T, ctx context.Context, m *lab.Mesh, before lab.NetState) {
	t.Helper()
	a, b := m.Hosts["a"], m.Hosts["b"]
	after, err := a.Node.ReadNetState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(after); len(d) != 0 {
		t.Errorf("a's kernel state after the restart differs from before the kill:\n%s", strings.Join(d, "\n"))
	}
	tuns := 0
	for _, l := range after.Links {
		if strings.HasPrefix(l, "oemesh") {
			tuns++
		}
	}
	if tuns != 1 {
		t.Errorf("a has %d oemesh TUN devices after the restart, want 1: %v", tuns, after.Links)
	}
	var onB, onA int
	for deadline := time.Now().Add(10 * time.Second); ; {
		onB, onA = 0, 0
		for _, ts := range tunnels(t, m, ctx, "b") {
			if ts.Peer == a.Addr4.String() {
				onB++
			}
		}
		for _, ts := range tunnels(t, m, ctx, "a") {
			if ts.Peer == b.Addr4.String() {
				onA++
			}
		}
		if onB == 1 && onA == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if onB != 1 || onA != 1 {
		t.Errorf("tunnels a↔b after the restart: %d on a, %d on b; want 1 and 1 (no stale SA of the killed run)", onA, onB)
	}
}
