package interopvm

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestInVMPortExclusionXFRM is internal/e2e's TestPortExclusion on the
// xfrm data plane: b is in a's private group, a's portexcludes.conf keeps
// TCP to port 22 clear ("out tcp any 22"), b's keeps its own port 22 clear
// ("in tcp any 22"). TCP to b's port 22 must cross in clear both ways,
// before the tunnel and while it is up (the exclusion's pass policies are
// above the SA's), while ICMP to b crosses as ESP only.
func TestInVMPortExclusionXFRM(t *testing.T) {
	files := needVMFiles(t)
	m, err := lab.NewMesh(lab.MeshOptions{Prefix: fmt.Sprintf("ipx%d", os.Getpid()%100000),
		WorkDir: t.TempDir(), Oemeshd: filepath.Join(files, "oemeshd"), Keyed: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"a", "b"} {
				t.Logf("--- oemeshd log of %s (last 60 lines):\n%s", name, tail(m.Log(name), 60))
			}
		}
		m.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	a, b := m.Hosts["a"], m.Hosts["b"]
	const lan, dns = "198.18.0.0/16\n2001:db8::/32\n", "198.18.0.53\n2001:db8:1::53\n"
	if err := m.StartDaemon(ctx, "b", lab.HostConfig{Extra: "dataplane: xfrm\n", Policies: map[string]string{
		"clear-or-private": lan, "clear": dns, "portexcludes.conf": "in tcp any 22 1023\n"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.StartDaemon(ctx, "a", lab.HostConfig{Extra: "dataplane: xfrm\n", Policies: map[string]string{
		"private": lan, "clear": dns, "portexcludes.conf": "out tcp any 22 1023\n"}}); err != nil {
		t.Fatal(err)
	}
	stopEcho, err := b.ServeEchoTCP(netip.AddrPortFrom(b.Addr4, 22))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopEcho)
	c, err := lab.StartCapture(m.Sw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })

	echoTCP22(t, ctx, a, b.Addr4, "before the tunnel")
	if n := c.Settled().Between(a.Addr4, b.Addr4, lab.KindClearTCP); n == 0 {
		t.Errorf("no cleartext TCP a ↔ b before the tunnel")
	}
	c.Reset()
	// ICMP brings the tunnel up (about 3 s under TCG; a private flow's
	// packets wait or are dropped meanwhile).
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, out := ping(ctx, a.Node, b.Addr4, 1)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no echo reply from b within 30 s\n%s", out)
		}
	}
	echoTCP22(t, ctx, a, b.Addr4, "with the tunnel up")
	if n, out := ping(ctx, a.Node, b.Addr4, 3); n != 3 {
		t.Errorf("second ping a→b: %d/3 answered\n%s", n, out)
	}
	counts := c.Settled()
	t.Logf("capture: %v", counts)
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("a ↔ b: %d cleartext ICMP packets on the LAN", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 2*4 {
		t.Errorf("ESP a ↔ b: %d packets, want ≥ %d", n, 2*4)
	}
	if n, back := counts.From(a.Addr4, b.Addr4, lab.KindClearTCP), counts.From(b.Addr4, a.Addr4, lab.KindClearTCP); n == 0 || back == 0 {
		t.Errorf("cleartext TCP with the tunnel up: %d a→b, %d b→a packets, want both > 0", n, back)
	}
	if out, err := m.CLI(ctx, "a", "policy", "explain", "--proto", "tcp", "--port", "22", b.Addr4.String()); err != nil ||
		!strings.Contains(out, "clear for tcp/22 (port exclusion") {
		t.Errorf("policy explain tcp/22: %v\n%s", err, out)
	}
}

// echoTCP22 connects from h to dst:22 (the echo service), writes a line and
// reads it back.
func echoTCP22(t *testing.T, ctx context.Context, h *lab.MeshHost, dst netip.Addr, when string) {
	t.Helper()
	if err := h.EchoTCP(ctx, netip.AddrPortFrom(dst, 22), "hello "+when+"\n"); err != nil {
		t.Errorf("%s: %v", when, err)
	}
}
