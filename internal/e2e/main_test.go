package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/testbin"

	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/leftovers"
)

var binDir string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipped: needs root (network namespaces); CI runs as root")
		os.Exit(0)
	}
	sweep()
	dir, remove, err := testbin.BuildTemp("oemesh", "oemeshd")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	remove()
	os.Exit(code)
}

var meshN int

func newMesh(t *testing.T, opts lab.MeshOptions) *lab.Mesh {
	t.Helper()
	meshN++
	opts.Prefix = fmt.Sprintf("ome%d-%d", os.Getpid()%100000, meshN)
	opts.WorkDir = t.TempDir()
	opts.Oemeshd = filepath.Join(binDir, "oemeshd")
	m, err := lab.NewMesh(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for name := range m.Hosts {
				if log := m.Log(name); log != "" {
					t.Logf("--- oemeshd log of %s:\n%s", name, tail(log, 60))
				}
			}
		}
		if err := m.Close(); err != nil {
			t.Errorf("removing the mesh: %v", err)
		}
	})
	return m
}

// sweep removes what a previous run killed by -timeout (which runs no
// t.Cleanup) left: the namespaces of runs that are gone, and the daemons
// in them.
func sweep() {
	removed, err := leftovers.SweepDead(leftovers.Scanner{})
	for _, it := range removed {
		fmt.Println("e2e: removed a dead run's", it)
	}
	if err != nil {
		fmt.Println("e2e: removing dead runs' leftovers:", err)
	}
}

func tail(s string, lines int) string {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n++
			if n > lines {
				return s[i+1:]
			}
		}
	}
	return s
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
