package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/testbin"
)

// notifySocket is a fake systemd: the NOTIFY_SOCKET the daemon writes to.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

// next returns the next datagram holding want, failing after wait.
func (s *notifySocket) next(want string, wait time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 4096)
	var seen []string
	for {
		s.conn.SetReadDeadline(deadline)
		n, err := s.conn.Read(buf)
		if err != nil {
			s.t.Fatalf("no %q from the daemon within %v (got %q): %v", want, wait, seen, err)
		}
		msg := string(buf[:n])
		if strings.Contains(msg, want+"\n") {
			return msg
		}
		seen = append(seen, msg)
	}
}

// The sd_notify handshake of a real oemeshd: READY=1 once the control
// socket answers, WATCHDOG=1 at half WATCHDOG_USEC, RELOADING=1 and READY=1
// around SIGHUP, STOPPING=1 on SIGTERM.
func TestServiceNotify(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: oemeshd runs in a network namespace of its own (unshare -n)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("needs unshare(1) (Debian package util-linux)")
	}
	bin, remove, err := testbin.BuildTemp("oemeshd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)

	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sd := &notifySocket{t: t, conn: nc}

	sock := filepath.Join(dir, "run", "oemeshd.sock")
	cfg := filepath.Join(dir, "oemesh.yaml")
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("policies: "+filepath.Join(dir, "policies")+"\ncontrol_socket: "+sock+
		"\nhostkey: "+filepath.Join(dir, "hostkey.pem")+"\noe:\n  null_auth: only\ndns:\n  servers: [127.0.0.1:53]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("unshare", "-n", "--", filepath.Join(bin, "oemeshd"), "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify, "WATCHDOG_USEC=400000")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("oemeshd's log:\n%s", stderr.String())
		}
	})

	ready := sd.next("READY=1", 60*time.Second)
	// Ready means ready: the control socket answers at once.
	var st control.Status
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := control.NewClient(sock).Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		t.Fatalf("READY=1 sent (%q) but the control socket does not answer: %v", ready, err)
	}
	if !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY=1 without a STATUS= line: %q", ready)
	}

	// Two pings at 200ms (half of 400ms), from the running loop.
	start := time.Now()
	sd.next("WATCHDOG=1", 2*time.Second)
	sd.next("WATCHDOG=1", 2*time.Second)
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("two watchdog pings took %v, want about 400ms", took)
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if msg := sd.next("RELOADING=1", 10*time.Second); !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC=: %q", msg)
	}
	if msg := sd.next("READY=1", 10*time.Second); !strings.Contains(msg, "STATUS=reloaded") {
		t.Errorf("READY=1 after the reload does not say it reloaded: %q", msg)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sd.next("STOPPING=1", 10*time.Second)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("oemeshd exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("oemeshd did not exit within 15s of SIGTERM")
	}
}
