package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/testbin"
)

var binDir string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipped: needs root (network namespaces); CI runs as root")
		os.Exit(0)
	}
	lab.SweepStale("e2e")
	dir, remove, err := testbin.BuildTemp("oemesh", "oemeshd")
	if err != nil {
		panic(err)
	}
	binDir = dir
	meshes = &lab.TestMeshes{Prefix: "ome", Oemeshd: filepath.Join(dir, "oemeshd"), LogLines: 60}
	code := m.Run()
	remove()
	os.Exit(code)
}

// meshes makes this package's meshes (namespaces "ome<pid>-<n>-…").
var meshes *lab.TestMeshes

// newMesh builds a lab mesh, removed (with its daemons) when the test ends;
// a failing test logs the end of each daemon's log.
func newMesh(t *testing.T, opts lab.MeshOptions) *lab.Mesh {
	t.Helper()
	return meshes.New(t, opts)
}

func tail(s string, lines int) string { return lab.Tail(s, lines) }

func ctxT(t *testing.T, d time.Duration) context.Context { return lab.TestContext(t, d) }
