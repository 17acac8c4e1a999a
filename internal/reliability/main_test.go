package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/testbin"
)

// binDir holds the oemeshd and oemesh built for this run.
var binDir string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("reliability: skipped: needs root (network namespaces); CI runs as root")
		os.Exit(0)
	}
	lab.SweepStale("reliability")
	dir, remove, err := testbin.BuildTemp("oemesh", "oemeshd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability: building the binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	meshes = &lab.TestMeshes{Prefix: "omr", Oemeshd: filepath.Join(dir, "oemeshd"), LogLines: 40}
	code := m.Run()
	remove()
	os.Exit(code)
}

// meshes makes this package's meshes (namespaces "omr<pid>-<n>-…").
var meshes *lab.TestMeshes

// newMesh builds the lab mesh, removed (with its daemons) when the test
// ends; a failing test logs the end of each daemon's log.
func newMesh(t *testing.T) *lab.Mesh {
	t.Helper()
	return meshes.New(t, lab.MeshOptions{})
}

func tail(s string, lines int) string { return lab.Tail(s, lines) }

func ctxT(t *testing.T, d time.Duration) context.Context { return lab.TestContext(t, d) }

func start(t *testing.T, m *lab.Mesh, ctx context.Context, name string, hc lab.HostConfig) {
	t.Helper()
	if err := m.StartDaemon(ctx, name, hc); err != nil {
		t.Fatal(err)
	}
}

// status is a host's `oemesh status --json`.
func status(t *testing.T, m *lab.Mesh, ctx context.Context, name string) control.Status {
	t.Helper()
	out, err := m.CLI(ctx, name, "status", "--json")
	if err != nil {
		t.Fatalf("oemesh status on %s: %v\n%s", name, err, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("oemesh status --json on %s: %v\n%s", name, err, out)
	}
	if st.Defences == nil {
		t.Fatalf("oemesh status --json on %s has no defences:\n%s", name, out)
	}
	return st
}

// tunnels is a host's `oemesh traffic --json`.
func tunnels(t *testing.T, m *lab.Mesh, ctx context.Context, name string) []control.TunnelStatus {
	t.Helper()
	out, err := m.CLI(ctx, name, "traffic", "--json")
	if err != nil {
		t.Fatalf("oemesh traffic on %s: %v\n%s", name, err, out)
	}
	var ts []control.TunnelStatus
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		t.Fatalf("oemesh traffic --json on %s: %v\n%s", name, err, out)
	}
	return ts
}

// Policies of the mesh's hosts: the LANs opportunistic, the DNS host clear.
const (
	lan      = "198.18.0.0/16\n2001:db8::/32\n"
	clearDNS = "198.18.0.53\n2001:db8:1::35\n"
)

var (
	responderPolicies = map[string]string{"clear-or-private": lan, "clear": clearDNS}
	initiatorPolicies = map[string]string{"private-or-clear": lan, "clear": clearDNS}
)
