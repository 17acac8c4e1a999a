package userspace

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// startDevice starts a data plane inside ns, closed by t.Cleanup.
func startDevice(t testing.TB, ns *netnstest.NS, cfg Config) *Device {
	t.Helper()
	var d *Device
	if err := ns.Do(func() (err error) {
		d, err = New(context.Background(), cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: start userspace data plane: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("%s: close: %v", ns.Name, err)
		}
	})
	return d
}

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// install installs the two sides of a CHILD SA on da and db.
func install(t *testing.T, da, db *Device, pa, pb kernel.SAPair) {
	t.Helper()
	ctx := context.Background()
	if err := db.InstallSA(ctx, pb); err != nil {
		t.Fatal(err)
	}
	if err := da.InstallSA(ctx, pa); err != nil {
		t.Fatal(err)
	}
}

func trap(t *testing.T, d *Device, p netip.Prefix, g kernel.Group) {
	t.Helper()
	if err := d.SetTrap(context.Background(), kernel.Trap{Prefix: p, Group: g}); err != nil {
		t.Fatal(err)
	}
}

// capture records the IP protocols of every frame on one interface of a
// namespace through an AF_PACKET socket, until stop.
type capture struct {
	mu       sync.Mutex
	counts   map[string]int
	fd       int
	stopping atomic.Bool // the reader leaves at its next timeout
	done     chan struct{}
}

func startCapture(t *testing.T, ns *netnstest.NS, dev string) *capture {
	t.Helper()
	c := &capture{counts: map[string]int{}, done: make(chan struct{})}
	err := ns.Do(func() error {
		l, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			return err
		}
		c.fd = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<20)
		tv := unix.Timeval{Usec: 100000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Index})
	})
	if err != nil {
		t.Fatalf("capture on %s/%s: %v", ns.Name, dev, err)
	}
	fd := c.fd // the reader's own copy: stop closes the socket only after it left
	go func() {
		defer close(c.done)
		buf := make([]byte, 128)
		for !c.stopping.Load() {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			c.mu.Lock()
			c.counts[classifyFrame(buf[:min(n, len(buf))])]++
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *capture) stop() map[string]int {
	if c.fd > 0 {
		c.stopping.Store(true)
		<-c.done // within one receive timeout (100 ms)
		_ = unix.Close(c.fd)
		c.fd = -1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// classifyFrame names an Ethernet frame: "esp", "esp-in-udp", "arp",
// "nd" (IPv6 neighbour discovery and MLD), or "clear:<proto>" for anything else.
func classifyFrame(f []byte) string {
	if len(f) < 14 {
		return "short"
	}
	et := binary.BigEndian.Uint16(f[12:14])
	ip := f[14:]
	var proto uint8
	var l4 []byte
	switch et {
	case 0x0806:
		return "arp"
	case 0x0800:
		if len(ip) < 20 {
			return "short"
		}
		proto, l4 = ip[9], ip[int(ip[0]&0xf)*4:]
	case 0x86dd:
		if len(ip) < 40 {
			return "short"
		}
		proto, l4 = ip[6], ip[40:]
		if ip[24] == 0xff && ip[25]&0x0f == 2 {
			return "nd" // link-local multicast: MLD reports, solicitations
		}
		if proto == protoICMPv6 && len(l4) > 0 && l4[0] >= 133 && l4[0] <= 137 {
			return "nd"
		}
	default:
		return fmt.Sprintf("ethertype:%#x", et)
	}
	switch {
	case proto == protoESP:
		return "esp"
	case proto == protoUDP && len(l4) >= 4 && (binary.BigEndian.Uint16(l4[0:2]) == 4500 || binary.BigEndian.Uint16(l4[2:4]) == 4500):
		return "esp-in-udp"
	}
	return fmt.Sprintf("clear:%d", proto)
}

// TestNetnsPingAndTCP runs two userspace hosts with manually given SAs:
// IPv4 transport mode over raw ESP with AES-GCM, IPv6 tunnel mode over
// ESP-in-UDP with ChaCha20-Poly1305. Pings pass both ways, a 100 MB TCP
// transfer arrives with the same SHA-256, and a capture on the wire shows
// nothing but ESP (and ARP / neighbour discovery).
func TestNetnsPingAndTCP(t *testing.T) {
	p := netnstest.NewPair(t, "usp")
	da, db := startDevice(t, p.A, Config{}), startDevice(t, p.B, Config{})
	for _, x := range []struct {
		d     *Device
		peers []netip.Addr
	}{{da, []netip.Addr{p.B4, p.B6}}, {db, []netip.Addr{p.A4, p.A6}}} {
		for _, a := range x.peers {
			trap(t, x.d, host(a), kernel.GroupPrivate)
		}
	}
	pa4, pb4 := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, true)
	install(t, da, db, pa4, pb4)
	pa6, pb6 := testPairs(t, p.A6, p.B6, kernel.ModeTunnel, kernel.ChaCha20Poly1305, true)
	pa6.In.SPI, pa6.Out.SPI, pb6.In.SPI, pb6.Out.SPI = 0x3000c, 0x4000d, 0x4000d, 0x3000c
	pa6.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	pb6.Encap = pa6.Encap
	install(t, da, db, pa6, pb6)

	capt := startCapture(t, p.A, p.ADev)
	p.A.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "3", p.B4.String())
	p.B.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "3", p.A4.String())
	p.A.Run(t, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "3", p.B6.String())

	const size = 100 << 20
	sent, got := tcpTransfer(t, p.A, p.B, netip.AddrPortFrom(p.B4, 5001), size)
	if sent != got {
		t.Fatalf("TCP transfer: sent SHA-256 %x, received %x", sent, got)
	}
	counts := capt.stop()
	t.Logf("frames on %s: %v", p.ADev, counts)
	for k, n := range counts {
		switch k {
		case "esp", "esp-in-udp", "arp", "nd":
		default:
			t.Errorf("%d frames of %s crossed the wire in clear", n, k)
		}
	}
	if counts["esp"] < 1000 || counts["esp-in-udp"] < 6 {
		t.Errorf("too few ESP frames: %v", counts)
	}
	c, err := da.SACounters(context.Background(), pa4.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.OutBytes < size || c.InPackets == 0 || c.LastUse.IsZero() {
		t.Errorf("A's counters after %d bytes: %+v", size, c)
	}
	if s := db.Stats(); s.Dropped["auth"]+s.Dropped["replay"]+s.Dropped["no-sa"] != 0 {
		t.Errorf("B dropped packets of a clean transfer: %v", s.Dropped)
	}
}

// tcpTransfer sends size pseudo-random bytes from a to a listener in b and
// returns the SHA-256 of what was sent and of what arrived.
func tcpTransfer(t *testing.T, a, b *netnstest.NS, at netip.AddrPort, size int64) (sent, got [32]byte) {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp", at.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conn net.Conn
	if err := a.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", at.String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	recv := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recv <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes, want %d", n, size)
		}
		copy(got[:], h.Sum(nil))
		recv <- err
	}()
	_ = conn.SetDeadline(deadline)
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	chunk := make([]byte, 64<<10)
	start := time.Now()
	for left := size; left > 0; {
		n := min(left, int64(len(chunk)))
		_, _ = src.Read(chunk[:n])
		h.Write(chunk[:n])
		if _, err := conn.Write(chunk[:n]); err != nil {
			t.Fatalf("TCP send: %v", err)
		}
		left -= n
	}
	conn.Close()
	if err := <-recv; err != nil {
		t.Fatalf("TCP receive: %v", err)
	}
	el := time.Since(start)
	t.Logf("TCP %d MB in %v: %.0f Mbit/s", size>>20, el.Round(time.Millisecond), float64(size*8)/el.Seconds()/1e6)
	copy(sent[:], h.Sum(nil))
	return sent, got
}
