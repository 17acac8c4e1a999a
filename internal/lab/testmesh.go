package lab

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/internal/leftovers"
)

// TB is the part of testing.TB that the test helpers below use. The lab
// takes it rather than importing package testing, so that cmd/oemesh-lab,
// which builds meshes too, does not carry the test framework.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Fatal(args ...any)
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	TempDir() string
}

// TestMeshes makes the meshes of one test binary (internal/e2e,
// internal/reliability): each gets namespaces of its own, is removed with
// its daemons when its test ends, and shows the end of each daemon's log
// when its test failed. The zero value is not usable: set Prefix and
// Oemeshd.
type TestMeshes struct {
	// Prefix starts every namespace name; it must be one of the prefixes
	// internal/leftovers knows (e.g. "ome" for internal/e2e), so that a
	// later run sweeps what a killed run left. The process ID and the
	// mesh's number follow it.
	Prefix string
	// Oemeshd is the daemon binary; the oemesh CLI sits beside it.
	Oemeshd string
	// LogLines is how many lines of each daemon's log a failed test
	// shows (default 60).
	LogLines int

	n atomic.Int64
}

// New builds a mesh for tb's test with opts (Prefix, WorkDir and Oemeshd
// are set here) and removes it when the test ends, reporting a failed
// removal as a test error. It stops the test if the mesh cannot be built.
func (s *TestMeshes) New(tb TB, opts MeshOptions) *Mesh {
	tb.Helper()
	opts.Prefix = fmt.Sprintf("%s%d-%d", s.Prefix, os.Getpid()%100000, s.n.Add(1))
	opts.WorkDir = tb.TempDir()
	opts.Oemeshd = s.Oemeshd
	m, err := NewMesh(opts)
	if err != nil {
		tb.Fatal(err)
	}
	lines := s.LogLines
	if lines <= 0 {
		lines = 60
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			for name := range m.Hosts {
				if log := m.Log(name); log != "" {
					tb.Logf("--- oemeshd log of %s (end):\n%s", name, Tail(log, lines))
				}
			}
		}
		if err := m.Close(); err != nil {
			tb.Errorf("removing the mesh: %v", err)
		}
	})
	return m
}

// SweepStale removes what earlier runs that are gone left behind (their
// namespaces and the daemons in them): a test binary that `go test
// -timeout` kills runs no t.Cleanup. A TestMain calls it first; it prints
// what it removed, each line starting with the caller's name.
func SweepStale(name string) {
	removed, err := leftovers.SweepDead(leftovers.Scanner{})
	for _, it := range removed {
		fmt.Printf("%s: removed a dead run's %v\n", name, it)
	}
	if err != nil {
		fmt.Printf("%s: removing dead runs' leftovers: %v\n", name, err)
	}
}

// Tail is what follows the (n+1)-th newline from the end of s: the last n
// lines of a log, which ends in a newline (an unfinished last line comes in
// addition), or all of s when it has no more newlines than n.
func Tail(s string, n int) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			if n--; n < 0 {
				return s[i+1:]
			}
		}
	}
	return s
}

// TestContext is a context that ends after d or when tb's test ends.
func TestContext(tb TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
