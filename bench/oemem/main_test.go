package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke runs the memory benchmark with a few peers so it cannot rot
// unnoticed: every handshake must succeed and the responder must list
// every SA (run checks both). The figures are for bench/oe-perf.sh.
func TestSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, TUN); CI runs as root")
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "oemeshd"), "github.com/oemesh/oemesh/cmd/oemeshd").CombinedOutput(); err != nil {
		t.Fatalf("building oemeshd: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := &bench{oemeshd: filepath.Join(bin, "oemeshd"), conc: 4}
	defer b.close()
	if err := b.run(ctx, 5, 20); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(b.work, "oemeshd.log")); rerr == nil {
			t.Logf("responder log:\n%s", log)
		}
		t.Fatal(err)
	}
}
