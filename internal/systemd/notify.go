package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The states oemeshd sends (sd_notify(3)).
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notifier sends state changes to the service manager. The zero value (no
// NOTIFY_SOCKET: not started by systemd, or Type= is not notify) sends
// nothing and reports no error, so callers need not ask.
type Notifier struct {
	addr *net.UnixAddr
}

// NewNotifier returns the Notifier for the socket named by NOTIFY_SOCKET in
// env (a path, or "@name" for an abstract socket). getenv is os.Getenv in
// the daemon.
func NewNotifier(getenv func(string) string) *Notifier {
	p := getenv("NOTIFY_SOCKET")
	if p == "" {
		return &Notifier{}
	}
	// Go maps a leading '@' to the abstract namespace, as systemd means it.
	return &Notifier{addr: &net.UnixAddr{Name: p, Net: "unixgram"}}
}

// Enabled says whether there is a service manager to tell.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends the given assignments ("READY=1", "STATUS=...") in one
// datagram. A status with a newline would end the assignment early, so
// newlines in values are replaced by spaces.
func (n *Notifier) Notify(states ...string) error {
	if !n.Enabled() || len(states) == 0 {
		return nil
	}
	var b strings.Builder
	for _, s := range states {
		b.WriteString(strings.ReplaceAll(s, "\n", " "))
		b.WriteByte('\n')
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: connecting to NOTIFY_SOCKET %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("sd_notify: sending %q to %s: %w", states, n.addr.Name, err)
	}
	return nil
}

// Status is a STATUS= assignment: the one line `systemctl status` shows.
func Status(s string) string { return "STATUS=" + s }

// ReloadingNow is RELOADING=1 with the MONOTONIC_USEC= systemd 253 and later
// want beside it (Type=notify-reload checks it; older versions ignore it).
func ReloadingNow() []string {
	var ts unix.Timespec
	usec := uint64(0)
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		usec = uint64(ts.Nano() / 1e3)
	}
	return []string{Reloading, "MONOTONIC_USEC=" + strconv.FormatUint(usec, 10)}
}

// WatchdogInterval is how often to send WATCHDOG=1: half of WATCHDOG_USEC,
// as sd_watchdog_enabled(3) advises, or 0 when systemd does not watch this
// process (no WATCHDOG_USEC, or WATCHDOG_PID names another process).
func WatchdogInterval(getenv func(string) string) (time.Duration, error) {
	s := getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, nil
	}
	usec, err := strconv.ParseUint(s, 10, 63)
	if err != nil || usec == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q is not a positive number of microseconds", s)
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID=%q is not a process id", p)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, nil
}
