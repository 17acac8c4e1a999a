package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDebugProfile: the CPU and mutex profiles come over the control
// socket as pprof files that go tool pprof reads, written 0600, and a bad
// kind or duration is refused before the daemon is asked.
func TestDebugProfile(t *testing.T) {
	d := startDaemon(t, nil)
	dir := t.TempDir()
	for _, c := range []struct{ kind, wantType string }{
		{"cpu", "Type: cpu"},
		{"mutex", "Type: delay"},
		{"block", "Type: delay"},
	} {
		out := filepath.Join(dir, c.kind+".pprof")
		// A file already there, world-readable: written anew, 0600.
		if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, "oemesh", "--socket", d.socket, "debug", "profile", c.kind, "--seconds", "1", "-o", out)
		if r.code != 0 || !strings.Contains(r.stderr, c.kind+" profile over 1s: "+out) {
			t.Fatalf("debug profile %s: %+v\n%s", c.kind, r, d.stderr)
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s profile: %v, mode %v, want 0600", c.kind, err, fi.Mode())
		}
		top, err := exec.Command("go", "tool", "pprof", "-top", out).CombinedOutput()
		if err != nil || !strings.Contains(string(top), c.wantType) {
			t.Errorf("go tool pprof -top %s: %v\n%s", c.kind, err, top)
		}
	}

	// To standard output, when it is not a terminal.
	cmd := exec.Command(filepath.Join(builtDir, "oemesh"), "--socket", d.socket, "debug", "profile", "cpu", "--seconds", "1")
	var so bytes.Buffer
	cmd.Stdout = &so
	if err := cmd.Run(); err != nil || so.Len() < 2 || so.Bytes()[0] != 0x1f || so.Bytes()[1] != 0x8b {
		t.Errorf("debug profile cpu > stdout: %v, %d bytes", err, so.Len())
	}

	for _, args := range [][]string{
		{"debug", "profile", "heap"},
		{"debug", "profile", "cpu", "--seconds", "0"},
		{"debug", "profile", "cpu", "--seconds", "301"},
	} {
		r := run(t, "oemesh", append([]string{"--socket", d.socket}, args...)...)
		if r.code != 2 {
			t.Errorf("%v: %+v, want a usage error", args, r)
		}
	}
}

// TestDebugProfileRootOnly: the control socket is 0600, owned by root, so
// a user other than root cannot ask for a profile even when every
// directory on the way is open to it.
func TestDebugProfileRootOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root, to start the daemon and to run the CLI as another user")
	}
	d := startDaemon(t, nil)
	// Open the way to the socket (the test's directories are 0700), so
	// that only the socket's own mode refuses.
	for p := filepath.Dir(d.socket); p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	os.Chmod(bin, 0o755)
	data, err := os.ReadFile(filepath.Join(builtDir, "oemesh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "oemesh"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(bin, "out")
	cmd := exec.Command(filepath.Join(bin, "oemesh"), "--socket", d.socket, "debug", "profile", "cpu", "--seconds", "1", "-o", out)
	cmd.Dir = bin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var se bytes.Buffer
	cmd.Stderr = &se
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(se.String(), "permission denied (run as root)") {
		t.Errorf("debug profile as nobody: %v\n%s", err, se.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused profile left a file behind")
	}
}
