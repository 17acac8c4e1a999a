package e2e

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestPortExclusion (issue 20, item 2): b is in a's private group, and a
// line of a's portexcludes.conf ("out tcp any 22") keeps TCP to b's port 22
// clear, while ICMP to b is encrypted, before the tunnel is up and while it
// is. b excludes its own port 22 ("in tcp any 22"), so that its replies
// stay clear too. The capture on the LAN must show the TCP session in the
// clear and no cleartext ICMP. Then a reload that only empties
// portexcludes.conf puts the TCP session into the tunnel. On the userspace
// data plane: the mesh's kernel need not carry ESP; the xfrm data plane's
// test runs in the VM (internal/interopvm's TestInVMPortExclusionXFRM).
func TestPortExclusion(t *testing.T) {
	testPortExclusion(t, "userspace")
}

func testPortExclusion(t *testing.T, dataplane string) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	extra := "dataplane: " + dataplane + "\n"
	start(t, m, ctx, "b", lab.HostConfig{Extra: extra, Policies: map[string]string{
		"clear-or-private": lan, "clear": clearDNS, "portexcludes.conf": "in tcp any 22 1023\n"}})
	start(t, m, ctx, "a", lab.HostConfig{Extra: extra, Policies: map[string]string{
		"private": lan, "clear": clearDNS, "portexcludes.conf": "# ssh stays clear\nout tcp any 22 1023\n"}})
	// An echo server on b's port 22.
	stopEcho, err := b.ServeEchoTCP(netip.AddrPortFrom(b.Addr4, 22))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopEcho)
	c := capture(t, m)

	if out, err := m.CLI(ctx, "a", "policy", "explain", "--proto", "tcp", "--port", "22", b.Addr4.String()); err != nil ||
		!strings.Contains(out, "clear for tcp/22 (port exclusion") {
		t.Errorf("policy explain tcp/22: %v\n%s", err, out)
	}
	// Before any tunnel: TCP to port 22 goes clear, and starts no
	// negotiation.
	echoTCP(t, ctx, a, b.Addr4, "before the tunnel")
	if n := c.Settled().Between(a.Addr4, b.Addr4, lab.KindClearTCP); n == 0 {
		t.Errorf("no cleartext TCP a ↔ b before the tunnel")
	}
	if strings.Contains(m.Log("a"), "acquire") && strings.Contains(m.Log("a"), "dport=22") {
		t.Errorf("a's TCP to port 22 raised an acquire:\n%s", m.Log("a"))
	}
	// ICMP brings the tunnel up and is encrypted.
	c.Reset()
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	if r.Received < 4 {
		t.Errorf("ping a→b: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	// With the tunnel up, TCP to port 22 is still clear, ICMP still not.
	echoTCP(t, ctx, a, b.Addr4, "with the tunnel up")
	r = m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	if r.Received != 3 {
		t.Errorf("second ping a→b: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	counts := c.Settled()
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("a ↔ b: %d cleartext ICMP packets on the LAN (%v)", n, counts)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 2*7 {
		t.Errorf("ESP a ↔ b: %d packets, want ≥ %d (%v)", n, 2*7, counts)
	}
	if n, back := counts.From(a.Addr4, b.Addr4, lab.KindClearTCP), counts.From(b.Addr4, a.Addr4, lab.KindClearTCP); n == 0 || back == 0 {
		t.Errorf("cleartext TCP with the tunnel up: %d a→b, %d b→a packets, want both > 0 (%v)", n, back, counts)
	}

	// A reload that only drops the exclusions (on both hosts) puts TCP
	// to port 22 into the tunnel.
	for _, h := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(m.Hosts[h].Dir, "policies", "portexcludes.conf"), []byte("# none\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := m.CLI(ctx, h, "policy", "reload"); err != nil {
			t.Fatalf("policy reload on %s: %v\n%s", h, err, out)
		}
	}
	c.Reset()
	echoTCP(t, ctx, a, b.Addr4, "without the exclusions")
	counts = c.Settled()
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindClearTCP); n != 0 {
		t.Errorf("after the reload: %d cleartext TCP packets a ↔ b, want 0 (%v)", n, counts)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n == 0 {
		t.Errorf("after the reload: no ESP a ↔ b (%v)", counts)
	}
}

// echoTCP connects from h to dst:22 (the echo service), writes a line and
// reads it back.
func echoTCP(t *testing.T, ctx context.Context, h *lab.MeshHost, dst netip.Addr, when string) {
	t.Helper()
	if err := h.EchoTCP(ctx, netip.AddrPortFrom(dst, 22), "hello "+when+"\n"); err != nil {
		t.Errorf("%s: %v", when, err)
	}
}
