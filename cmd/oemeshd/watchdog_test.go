package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/systemd"
)

// The watchdog's pings come from the main loop, through the locks its
// summary takes: while the loop is stuck (here on the policy's lock) they
// stop, so that systemd would restart the daemon; they resume when it is
// free again, and the loop says STOPPING=1 when it ends.
func TestWatchdogStopsWhenLoopIsStuck(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	file := filepath.Join(dir, "oemesh.yaml")
	if err := os.WriteFile(file, []byte("policies: "+dir+"\ndns:\n  servers: [127.0.0.1:53]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	d, err := newDaemon(mustLoad(t, loadOpts(file)), log)
	if err != nil {
		t.Fatal(err)
	}
	d.sd = &serviceManager{n: systemd.NewNotifier(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return sock
		}
		return ""
	}), log: log, watchdog: 20 * time.Millisecond}
	d.ctl = control.NewServer(log)

	// read returns the datagrams that arrive within wait.
	read := func(wait time.Duration) []string {
		var got []string
		buf := make([]byte, 4096)
		deadline := time.Now().Add(wait)
		for {
			nc.SetReadDeadline(deadline)
			n, err := nc.Read(buf)
			if err != nil {
				return got
			}
			got = append(got, string(buf[:n]))
		}
	}
	pings := func(msgs []string) int {
		n := 0
		for _, m := range msgs {
			if strings.Contains(m, "WATCHDOG=1\n") {
				n++
			}
		}
		return n
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.loop(ctx, make(chan error), ctx) }()
	if n := pings(read(300 * time.Millisecond)); n < 3 {
		t.Fatalf("%d watchdog pings in 300ms at a 20ms interval", n)
	}

	d.policy.mu.Lock() // the loop's next summary blocks here
	read(100 * time.Millisecond)
	if n := pings(read(300 * time.Millisecond)); n != 0 {
		t.Errorf("%d watchdog pings while the main loop was stuck, want none", n)
	}
	d.policy.mu.Unlock()
	if n := pings(read(300 * time.Millisecond)); n < 3 {
		t.Errorf("%d watchdog pings in 300ms after the loop was freed", n)
	}

	cancel()
	if got := strings.Join(read(time.Second), ""); !strings.Contains(got, "STOPPING=1\n") {
		t.Errorf("no STOPPING=1 when the loop ended: %q", got)
	}
	if err := <-done; err != nil {
		t.Errorf("loop ended with %v", err)
	}
}
