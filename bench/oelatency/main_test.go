package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestSmoke runs the measurement once on a real mesh so the benchmark
// cannot rot unnoticed; it checks that every series got its sample, not
// the figures (those are for bench/oe-perf.sh).
func TestSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces); CI runs as root")
	}
	bin := t.TempDir()
	for _, c := range []string{"oemeshd", "oemesh"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, c), "github.com/oemesh/oemesh/cmd/"+c).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", c, err, out)
		}
	}
	m, err := lab.NewMesh(lab.MeshOptions{Prefix: fmt.Sprintf("oels%d", os.Getpid()%100000), WorkDir: t.TempDir(), Oemeshd: filepath.Join(bin, "oemeshd")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ss, err := measure(ctx, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if len(s.took) != 2 || len(s.rtt) != 2 {
			t.Errorf("%s: %d took and %d RTT samples, want 2 each", s.name, len(s.took), len(s.rtt))
		}
		for _, d := range s.took {
			if d <= 0 {
				t.Errorf("%s: took %v", s.name, d)
			}
		}
	}
}
