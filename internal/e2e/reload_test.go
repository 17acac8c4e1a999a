package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestReloadKeepsTunnels: with a tunnel up from a to b, a's dns.timeout and
// log.level change in its file and a gets a SIGHUP (systemctl reload). A
// ping running across the reload loses nothing, the tunnel keeps its SPIs
// on both sides, `oemesh status` shows the new values in force, and the
// debug lines stop.
func TestReloadKeepsTunnels(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", initiator)
	a, b := m.Hosts["a"], m.Hosts["b"]

	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received != 3 {
		t.Fatalf("ping a→b before the reload: %d/%d\n%s", r.Received, r.Sent, r.Output)
	}
	spis := func(host string) [][2]string {
		ts, out := traffic(t, m, ctx, host)
		var s [][2]string
		for _, tn := range ts {
			s = append(s, [2]string{tn.SPIIn, tn.SPIOut})
		}
		if len(s) == 0 {
			t.Fatalf("no tunnel on %s:\n%s", host, out)
		}
		slices.SortFunc(s, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
		return s
	}
	beforeA, beforeB := spis("a"), spis("b")

	// A ping across the reload, every 50ms for 3s.
	pinged := make(chan lab.PingResult, 1)
	go func() { pinged <- m.Ping(ctx, "a", b.Addr4, 60, 50*time.Millisecond) }()
	time.Sleep(500 * time.Millisecond)

	cfgPath := filepath.Join(a.Dir, "oemesh.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(cfg), "  timeout: 1s\n", "  timeout: 3s\n", 1)
	next = strings.Replace(next, "  level: debug\n", "  level: warn\n", 1)
	if next == string(cfg) || strings.Count(next, "3s") == 0 || !strings.Contains(next, "level: warn") {
		t.Fatalf("the lab's configuration has changed shape; cannot edit it:\n%s", cfg)
	}
	if err := os.WriteFile(cfgPath, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Signal("a", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The new values in force, as status shows them.
	var st control.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := m.CLI(ctx, "a", "status", "--json")
		if err != nil {
			t.Fatalf("oemesh status: %v\n%s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("oemesh status --json: %v\n%s", err, out)
		}
		if st.Config["dns.timeout"] == "3s" && st.Config["log.level"] == "WARN" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP, status shows dns.timeout %v and log.level %v; want 3s and WARN\n%s",
				st.Config["dns.timeout"], st.Config["log.level"], tail(m.Log("a"), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	logged := len(m.Log("a"))

	r := <-pinged
	if r.Received != r.Sent {
		t.Errorf("ping across the reload: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	if after := spis("a"); !slices.Equal(after, beforeA) {
		t.Errorf("a's tunnels changed across the reload: SPIs %v, then %v", beforeA, after)
	}
	if after := spis("b"); !slices.Equal(after, beforeB) {
		t.Errorf("b's tunnels changed across a's reload: SPIs %v, then %v", beforeB, after)
	}
	// At warn, a's debug and info lines stop (the ping above and the
	// status calls made plenty before the reload).
	if r := m.Ping(ctx, "a", b.Addr6, 2, 100*time.Millisecond); r.Received != 2 {
		t.Errorf("ping a→b over IPv6 after the reload: %d/%d\n%s", r.Received, r.Sent, r.Output)
	}
	if newer := m.Log("a")[logged:]; strings.Contains(newer, "level=DEBUG") || strings.Contains(newer, "level=INFO") {
		t.Errorf("log.level warn in force, but a still logs debug or info lines:\n%s", tail(newer, 10))
	}
	if !strings.Contains(m.Log("a")[:logged], "level=DEBUG") {
		t.Error("a logged no debug line before the reload: the test proves nothing about the level")
	}
}
