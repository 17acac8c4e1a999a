package systemd

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket in a temporary directory, as systemd's
// NOTIFY_SOCKET or journald's socket would be.
func listen(t *testing.T, name string) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func recv(t *testing.T, c *net.UnixConn) []byte {
	t.Helper()
	buf := make([]byte, 1<<16)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading the socket: %v", err)
	}
	return buf[:n]
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotify(t *testing.T) {
	c, path := listen(t, "notify")
	n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path}))
	if !n.Enabled() {
		t.Fatal("a notifier with NOTIFY_SOCKET set is not enabled")
	}
	if err := n.Notify(Ready, Status("2 tunnels\nup")); err != nil {
		t.Fatal(err)
	}
	if got, want := string(recv(t, c)), "READY=1\nSTATUS=2 tunnels up\n"; got != want {
		t.Errorf("datagram = %q, want %q", got, want)
	}
	if err := n.Notify(ReloadingNow()...); err != nil {
		t.Fatal(err)
	}
	got := string(recv(t, c))
	if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasSuffix(got, "MONOTONIC_USEC=0\n") {
		t.Errorf("reloading datagram = %q", got)
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := "@oemesh-test-" + strconv.Itoa(os.Getpid())
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name})).Notify(Stopping); err != nil {
		t.Fatal(err)
	}
	if got := string(recv(t, c)); got != "STOPPING=1\n" {
		t.Errorf("datagram = %q", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	n := NewNotifier(env(nil))
	if n.Enabled() {
		t.Error("enabled without NOTIFY_SOCKET")
	}
	if err := n.Notify(Ready); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET: %v", err)
	}
	gone := filepath.Join(t.TempDir(), "gone")
	if err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": gone})).Notify(Ready); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("Notify to a missing socket: %v, want an error naming it", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		env  map[string]string
		want time.Duration
		err  bool
	}{
		{nil, 0, false},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second, false},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": self}, 15 * time.Second, false},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0, false},
		{map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "soon"}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "10", "WATCHDOG_PID": "me"}, 0, true},
	} {
		got, err := WatchdogInterval(env(tc.env))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WatchdogInterval(%v) = %v, %v; want %v, error %v", tc.env, got, err, tc.want, tc.err)
		}
	}
}
