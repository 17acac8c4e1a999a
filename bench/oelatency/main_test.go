package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	modes, err := pqModes(ctx, filepath.Join(bin, "oemeshd"), "off,prefer")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := measure(ctx, m, 2, modes)
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
		if s.kes != nil {
			n := 0
			for _, c := range s.kes {
				n += c
			}
			if n != 2 {
				t.Errorf("%s: key exchanges read %d times, want 2: %v", s.name, n, s.kes)
			}
		}
	}
}

// TestPQModes checks that the ike.pq values are used only with an
// oemeshd that has the setting, which a stand-in daemon's --help says.
func TestPQModes(t *testing.T) {
	dir := t.TempDir()
	daemon := func(name, help string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\ncat <<'EOF'\n"+help+"\nEOF\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := daemon("with", "      --oe-null-auth string   unauthenticated OE\n      --ike-pq string   post-quantum (default \"prefer\")")
	without := daemon("without", "      --oe-null-auth string   unauthenticated OE")
	ctx := context.Background()
	for _, tc := range []struct {
		bin, list string
		want      []string
	}{
		{with, "off,prefer", []string{"off", "prefer"}},
		{with, " require , off,", []string{"require", "off"}},
		{with, "", []string{""}},
		{without, "off,prefer", []string{""}},
	} {
		got, err := pqModes(ctx, tc.bin, tc.list)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("pqModes(%s, %q) = %q, %v; want %q", filepath.Base(tc.bin), tc.list, got, err, tc.want)
		}
	}
	if _, err := pqModes(ctx, filepath.Join(dir, "missing"), "off"); err == nil {
		t.Error("pqModes with no oemeshd: no error")
	}
	if got := withPQ(initiator, "off").Extra; got != initiator.Extra+"ike:\n  pq: off\n" {
		t.Errorf("withPQ(off): Extra %q", got)
	}
	if got := withPQ(initiator, "").Extra; got != initiator.Extra {
		t.Errorf("withPQ(default): Extra %q", got)
	}
	if got := kesText(map[string]int{"x25519+mlkem768": 3, "": 1, "x25519": 2}); got != "not reported ×1, x25519 ×2, x25519+mlkem768 ×3" {
		t.Errorf("kesText: %q", got)
	}
}
