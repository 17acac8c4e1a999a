package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Pinger sends an ICMP echo request from a node every interval until
// Stop, whatever happens to the route: unlike ping(8) it neither gives up
// when its first send meets a blackhole nor slows down after send errors
// (ping doubles its interval after ENOBUFS or EAGAIN, which an XFRM hold
// queue returns when full), so the wire shows what the host lets out.
type Pinger struct {
	fd     int
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	sent   int
	errs   int
}

// StartPinger sends echo requests to the IPv4 address dst from n every
// interval until Stop.
func StartPinger(ctx context.Context, n *Node, dst netip.Addr, every time.Duration) (*Pinger, error) {
	if !dst.Is4() {
		return nil, fmt.Errorf("lab: pinger: %s is not IPv4", dst)
	}
	p := &Pinger{done: make(chan struct{})}
	err := n.Do(func() (err error) {
		p.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: pinger in %s: %w", n.NSName, err)
	}
	ctx, p.cancel = context.WithCancel(ctx)
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	id := uint16(os.Getpid())
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for seq := uint16(1); ; seq++ {
			err := unix.Sendto(p.fd, echoRequest(id, seq), unix.MSG_DONTWAIT, to)
			p.mu.Lock()
			p.sent++
			if err != nil {
				p.errs++
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p, nil
}

// Stop ends the pinger.
func (p *Pinger) Stop() {
	p.once.Do(func() { p.cancel(); <-p.done; unix.Close(p.fd) })
}

// Sent returns how many echo requests were sent and how many of those
// sends failed (a blackhole route, a full hold queue).
func (p *Pinger) Sent() (sent, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.errs
}

// echoRequest is an ICMP echo request with 56 bytes of data, like ping's.
func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+56)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	return b
}

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
	// packet of the new tunnel on the wire; ESPLast counts ESP packets in
	// the second after that was seen.
	ESPAfter time.Duration
	ESPLast  int
	// AnsweredAfter is from the restart to the first ESP packet of the new
	// tunnel from peer back to host (the first answered echo, when the
	// traffic is a Pinger's); zero if none was seen within the count.
	AnsweredAfter time.Duration
	// ESPAfterLog is from the daemon's first log line to that ESP packet:
	// the restart without the exec of the binary, which takes up to 1.5 s
	// under the VM's TCG emulation (zero if the log had no time).
	ESPAfterLog time.Duration
	// Log is what the restarted daemon logged until the end of the count.
	Log string
}

// Clear is every cleartext packet counted from the signal on.
func (o Outage) Clear() int { return o.ClearDown + o.ClearRestart + o.ClearAfter }

func (o Outage) String() string {
	return fmt.Sprintf("%v: %d cleartext while down, %d during the restart, %d after; ESP again %v after the restart, %v after the daemon's first log line (%d ESP in the second after); first answer %v after the restart",
		o.Signal, o.ClearDown, o.ClearRestart, o.ClearAfter, o.ESPAfter.Round(time.Millisecond), o.ESPAfterLog.Round(time.Millisecond), o.ESPLast, o.AnsweredAfter.Round(time.Millisecond))
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
	// The new tunnel's outbound SPI, from the log: the ESP of the killed
	// run (an XFRM data plane keeps sending it until the restart removes
	// its SAs) does not count.
	spi, spiIn, err := waitTunnelSPI(ctx, m, host, logged, dst, 10*time.Second)
	if err != nil {
		return o, fmt.Errorf("after %v: %w", sig, err)
	}
	var esp time.Time
	for deadline := time.Now().Add(10 * time.Second); esp.IsZero(); {
		if t, ok := c.FirstESP(spi); ok {
			esp = t
		} else if time.Now().After(deadline) {
			return o, fmt.Errorf("no ESP with SPI %08x from %s to %s within 10 s of the restart after %v", spi, host, peer, sig)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
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
	if t, ok := c.FirstESP(spiIn); ok {
		o.AnsweredAfter = t.Sub(restarted)
	}
	if log := m.Log(host); len(log) > logged {
		o.Log = log[logged:]
	}
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

// waitTunnelSPI waits until host's daemon logged, after offset, a tunnel
// up with peer, and returns its outbound and inbound SPIs.
func waitTunnelSPI(ctx context.Context, m *Mesh, host string, offset int, peer netip.Addr, d time.Duration) (out, in uint32, err error) {
	re := regexp.MustCompile(`msg="tunnel up" peer=` + regexp.QuoteMeta(peer.String()) + ` .*spi_in=([0-9a-f]{8}) spi_out=([0-9a-f]{8})`)
	deadline := time.Now().Add(d)
	for {
		if log := m.Log(host); len(log) > offset {
			if sm := re.FindStringSubmatch(log[offset:]); sm != nil {
				i, _ := strconv.ParseUint(sm[1], 16, 32)
				o, err := strconv.ParseUint(sm[2], 16, 32)
				return uint32(o), uint32(i), err
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%s logged no tunnel up with %s within %v", host, peer, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
