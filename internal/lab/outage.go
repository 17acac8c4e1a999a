package lab

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Pinger runs ping from a node until Stop, starting it again whenever it
// exits: ping gives up when its first connect meets a blackhole, which is
// what a fail-closed host shows while its daemon is down.
type Pinger struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// StartPinger pings dst from n every interval until Stop.
func StartPinger(ctx context.Context, n *Node, dst netip.Addr, every time.Duration) *Pinger {
	ctx, cancel := context.WithCancel(ctx)
	p := &Pinger{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			_ = n.Command(ctx, "ping", "-n", "-q", "-i", fmt.Sprintf("%.3f", every.Seconds()), dst.String()).Run()
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()
	return p
}

// Stop ends the pinger and waits for its ping to exit.
func (p *Pinger) Stop() { p.once.Do(func() { p.cancel(); <-p.done }) }

// WaitESP waits up to d until more than after ESP packets from src to dst
// were counted, and returns when; zero if they were not.
func (c *Capture) WaitESP(src, dst netip.Addr, after int, d time.Duration) time.Time {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.Snapshot().From(src, dst, KindESP) > after {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}
}

// Outage is what the wire showed from src to dst around one stop and
// restart of src's daemon.
type Outage struct {
	Signal syscall.Signal
	// Cleartext echo requests (and other cleartext user data, KindICMP)
	// from the signal to the restart, from the restart until ESP flowed
	// again, and in the second after that.
	ClearDown, ClearRestart, ClearAfter int
	// ESPAfter is from the restart (the process started) to the first ESP
	// packet sent after the daemon answered on its control socket; ESPLast
	// counts ESP packets in the second after that.
	ESPAfter time.Duration
	ESPLast  int
	// ESPAfterLog is from the daemon's first log line to that ESP packet:
	// the restart without the exec of the binary, which takes up to 1.5 s
	// under the VM's TCG emulation (zero if the log had no time).
	ESPAfterLog time.Duration
}

// Clear is every cleartext packet counted from the signal on.
func (o Outage) Clear() int { return o.ClearDown + o.ClearRestart + o.ClearAfter }

func (o Outage) String() string {
	return fmt.Sprintf("%v: %d cleartext while down, %d during the restart, %d after; ESP again %v after the restart, %v after the daemon's first log line (%d ESP in the second after)",
		o.Signal, o.ClearDown, o.ClearRestart, o.ClearAfter, o.ESPAfter.Round(time.Millisecond), o.ESPAfterLog.Round(time.Millisecond), o.ESPLast)
}

// StopAndRestart stops host's daemon with sig (SIGKILL: no clean-up at
// all), starts it again with hc down after the signal, and counts on c
// what host sent to peer's IPv4 address meanwhile. Traffic from host to
// peer (a Pinger) must be running and already in ESP.
func (m *Mesh) StopAndRestart(ctx context.Context, c *Capture, host, peer string, hc HostConfig, sig syscall.Signal, down time.Duration) (Outage, error) {
	src, dst := m.Hosts[host].Addr4, m.Hosts[peer].Addr4
	o := Outage{Signal: sig}
	clear := func() int { return c.Snapshot().From(src, dst, KindICMP) }
	base := clear()
	signalled := time.Now()
	if err := m.StopDaemon(host, sig); err != nil {
		return o, err
	}
	time.Sleep(time.Until(signalled.Add(down)))
	o.ClearDown = clear() - base
	logged := len(m.Log(host))
	restarted := time.Now()
	if err := m.StartDaemon(ctx, host, hc); err != nil {
		return o, err
	}
	// From here the daemon has reconciled: an XFRM data plane has removed
	// the SAs of the killed run, which kept carrying ESP while it was down.
	espBefore := c.Snapshot().From(src, dst, KindESP)
	esp := c.WaitESP(src, dst, espBefore, 10*time.Second)
	if esp.IsZero() {
		return o, fmt.Errorf("no ESP from %s to %s within 10 s of the restart after %v", host, peer, sig)
	}
	o.ESPAfter = esp.Sub(restarted)
	if log := m.Log(host); len(log) > logged {
		if t, ok := firstLogTime(log[logged:]); ok {
			o.ESPAfterLog = esp.Sub(t)
		}
	}
	o.ClearRestart = clear() - base - o.ClearDown
	espNow := c.Snapshot().From(src, dst, KindESP)
	time.Sleep(time.Second)
	o.ClearAfter = clear() - base - o.ClearDown - o.ClearRestart
	o.ESPLast = c.Snapshot().From(src, dst, KindESP) - espNow
	return o, nil
}

var logTimeRE = regexp.MustCompile(`(?m)^time=(\S+)`)

// firstLogTime is the time of the first line of an oemeshd log (slog's
// text format).
func firstLogTime(log string) (time.Time, bool) {
	m := logTimeRE.FindStringSubmatch(log)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, m[1])
	return t, err == nil
}
