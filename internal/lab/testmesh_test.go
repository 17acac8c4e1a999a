package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"one", 3, "one"},
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 1, "b\nc"}, // an unfinished line comes in addition
		{"a\nb\nc", 2, "a\nb\nc"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc\n", 0, ""},
	} {
		if got := Tail(c.s, c.n); got != c.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

// recordingTB is a TB whose test has failed (or not): it keeps what the
// helper logs and its cleanups, which the test runs itself.
type recordingTB struct {
	*testing.T
	failed   bool
	logs     []string
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Failed() bool     { return r.failed }
func (r *recordingTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestTestMeshes: each mesh gets namespaces of its own under the prefix,
// and its test's end removes them; a failed test shows the end of each
// daemon's log, a passing one does not.
func TestTestMeshes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lab tests need root (network namespaces); CI runs as root")
	}
	meshes := &TestMeshes{Prefix: "omlt", Oemeshd: "/nonexistent/oemeshd", LogLines: 2}
	for _, failed := range []bool{false, true} {
		tb := &recordingTB{T: t, failed: failed}
		m := meshes.New(tb, MeshOptions{})
		ns := m.Sw.NSName
		want := fmt.Sprintf("omlt%d-", os.Getpid()%100000)
		if !strings.HasPrefix(ns, want) {
			t.Errorf("switch namespace %q: want the prefix %q", ns, want)
		}
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
			t.Fatalf("the mesh's namespace: %v", err)
		}
		if err := os.WriteFile(filepath.Join(m.Hosts["a"].Dir, "oemeshd.log"), []byte("first\nsecond\nthird\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tb.runCleanups()
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Errorf("failed=%v: namespace %s is still there after the test's end", failed, ns)
			m.Close() // leave nothing behind even so
		}
		if len(tb.errs) > 0 {
			t.Errorf("failed=%v: errors removing the mesh: %q", failed, tb.errs)
		}
		shown := strings.Join(tb.logs, "\n")
		if !failed && shown != "" {
			t.Errorf("a passing test logged:\n%s", shown)
		}
		if failed && (!strings.Contains(shown, "oemeshd log of a") || !strings.Contains(shown, "second\nthird\n") || strings.Contains(shown, "first")) {
			t.Errorf("a failed test logged:\n%s\nwant the last 2 lines of a's log", shown)
		}
	}
}
