package e2e

import (
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

const lan = "198.18.0.0/16\n2001:db8::/32\n"
const clearDNS = "198.18.0.53\n"

// TestHostToHost: A (private-or-clear) to B (clear-or-private) is encrypted,
// the first packet arrives, and only ESP crosses the wire.
func TestHostToHost(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	if err := m.StartDaemon(ctx, "b", lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS}}); err != nil {
		t.Fatal(err)
	}
	if err := m.StartDaemon(ctx, "a", lab.HostConfig{Policies: map[string]string{"private-or-clear": lan, "clear": clearDNS}}); err != nil {
		t.Fatal(err)
	}
	capt, err := lab.StartCapture(m.Sw)
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Stop()
	a, b := m.Hosts["a"], m.Hosts["b"]
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := capt.Stop()
	if r.Received != 5 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 10 {
		t.Errorf("%d ESP packets between a and b, want ≥ 10 (%v)", n, counts)
	}
	out, _ := m.CLI(ctx, "a", "traffic")
	t.Logf("a: oemesh traffic:\n%s", out)
}
