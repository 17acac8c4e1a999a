package userspace

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

func waitAcquire(t *testing.T, d *Device, within time.Duration) kernel.Acquire {
	t.Helper()
	select {
	case a, ok := <-d.Acquires():
		if !ok {
			t.Fatal("acquire channel closed")
		}
		return a
	case <-time.After(within):
		t.Fatalf("no acquire within %v (stats %+v)", within, d.Stats())
	}
	return kernel.Acquire{}
}

func waitHeld(t *testing.T, d *Device, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if d.Stats().HeldPackets >= n {
			return
		}
	}
	t.Fatalf("fewer than %d packets held: %+v", n, d.Stats())
}

// TestNetnsHoldRelease: the first ping of a flow with no SA raises one
// acquire and waits in the hold queue; when the SA is installed it is sent
// and answered, so the single ping succeeds.
func TestNetnsHoldRelease(t *testing.T) {
	p := netnstest.NewPair(t, "ush")
	da, db := startDevice(t, p.A, Config{}), startDevice(t, p.B, Config{})
	trap(t, da, host(p.B4), kernel.GroupPrivateOrClear)
	trap(t, db, host(p.A4), kernel.GroupPrivate)

	ping := p.A.Command(context.Background(), "ping", "-c", "1", "-W", "10", p.B4.String())
	out := make(chan string, 1)
	go func() {
		b, err := ping.CombinedOutput()
		if err != nil {
			out <- "error: " + err.Error() + "\n" + string(b)
			return
		}
		out <- string(b)
	}()
	a := waitAcquire(t, da, 5*time.Second)
	if a.Flow.Dst != p.B4 || a.Flow.Src != p.A4 || a.Flow.Proto != protoICMP || a.Trap != host(p.B4) || a.Group != kernel.GroupPrivateOrClear {
		t.Fatalf("acquire %+v", a)
	}
	waitHeld(t, da, 1)
	time.Sleep(300 * time.Millisecond) // negotiation takes a while
	pa, pb := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, false)
	install(t, da, db, pa, pb)
	if s := <-out; !strings.Contains(s, "1 received") {
		t.Fatalf("first ping not answered after the SA came up:\n%s", s)
	}
	if s := da.Stats(); s.HeldPackets != 0 {
		t.Fatalf("packets still held: %+v", s)
	}
	select {
	case a := <-da.Acquires():
		t.Fatalf("second acquire for a flow that was held: %+v", a)
	default:
	}
}

// TestNetnsHoldShunts: with a drop shunt the held packets are dropped and
// counted and the ping fails; with a pass shunt they go in clear and the
// ping is answered.
func TestNetnsHoldShunts(t *testing.T) {
	p := netnstest.NewPair(t, "uss")
	da := startDevice(t, p.A, Config{})
	trap(t, da, host(p.B6), kernel.GroupPrivateOrClear)
	ctx := context.Background()

	// Drop shunt: the ping waits, then its packet is dropped.
	ping := p.A.Command(ctx, "ping", "-6", "-c", "1", "-W", "3", p.B6.String())
	res := make(chan error, 1)
	go func() { res <- ping.Run() }()
	a := waitAcquire(t, da, 5*time.Second)
	waitHeld(t, da, 1)
	drop := kernel.Shunt{Flow: kernel.Flow{Src: a.Flow.Src, Dst: a.Flow.Dst}, Kind: kernel.ShuntDrop, Lifetime: time.Minute, Reason: "test"}
	if err := da.SetShunt(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err == nil {
		t.Fatal("ping answered through a drop shunt")
	}
	s := da.Stats()
	if s.HeldPackets != 0 || s.Dropped["shunt-drop"] < 1 {
		t.Fatalf("after drop shunt: %+v", s)
	}
	shunts, _ := da.Shunts(ctx)
	if len(shunts) != 1 || shunts[0].Kind != kernel.ShuntDrop || shunts[0].Expires.IsZero() {
		t.Fatalf("shunts: %+v", shunts)
	}

	// Pass shunt: the held ping is released in clear and answered.
	if err := da.RemoveShunt(ctx, drop.Flow); err != nil {
		t.Fatal(err)
	}
	ping = p.A.Command(ctx, "ping", "-6", "-c", "1", "-W", "5", p.B6.String())
	go func() { res <- ping.Run() }()
	a = waitAcquire(t, da, 5*time.Second)
	waitHeld(t, da, 1)
	pass := kernel.Shunt{Flow: kernel.Flow{Src: a.Flow.Src, Dst: a.Flow.Dst}, Kind: kernel.ShuntPass, Lifetime: time.Minute}
	if err := da.SetShunt(ctx, pass); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatalf("held ping not answered through a pass shunt: %v (stats %+v)", err, da.Stats())
	}
	// Later packets of the flow pass too, without new acquires.
	p.A.Run(t, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "3", p.B6.String())
	select {
	case a := <-da.Acquires():
		t.Fatalf("acquire despite the pass shunt: %+v", a)
	default:
	}
}
