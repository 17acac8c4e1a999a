package udpmux

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/kernel"
)

// received is what a test handler saw.
type received struct {
	pkt           []byte
	local, remote netip.AddrPort
}

type collector struct {
	ch chan received
}

func newCollector() *collector { return &collector{ch: make(chan received, 16)} }

func (c *collector) handle(pkt []byte, local, remote netip.AddrPort) {
	c.ch <- received{pkt, local, remote}
}

func (c *collector) wait(t *testing.T) received {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram reached the handler within 5 s")
	}
	return received{}
}

func (c *collector) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-c.ch:
		t.Fatalf("handler got %x from %v, want nothing", r.pkt, r.remote)
	case <-time.After(100 * time.Millisecond):
	}
}

// serve opens a mux on cfg and runs it until the test ends.
func serve(t *testing.T, cfg Config, h Handler) *Mux {
	t.Helper()
	return serveSink(t, cfg, nil, h)
}

// serveSink is serve with an ESP sink.
func serveSink(t *testing.T, cfg Config, sink kernel.EncapSink, h Handler) *Mux {
	t.Helper()
	tr, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sink != nil {
		if err := tr.SetESPSink(sink); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tr
}

var loop4 = netip.MustParseAddr("127.0.0.1")

// fakeIKE is a datagram long enough to pass as an IKE header.
func fakeIKE(b byte) []byte {
	m := bytes.Repeat([]byte{b}, ikeHeaderLen+4)
	return m
}

func TestUDPIKEPortRoundTrip(t *testing.T) {
	ca, cb := newCollector(), newCollector()
	a := serve(t, Config{Addrs: []netip.Addr{loop4}, NATTPort: -1}, ca.handle)
	b := serve(t, Config{Addrs: []netip.Addr{loop4}, NATTPort: -1}, cb.handle)
	aIKE, aNATT := a.LocalAddrs()
	bIKE, _ := b.LocalAddrs()
	if len(aIKE) != 1 || len(aNATT) != 0 || aIKE[0].Port() == 0 {
		t.Fatalf("LocalAddrs: %v %v; want one IKE socket with a port and no NAT-T socket", aIKE, aNATT)
	}
	msg := fakeIKE(0x11)
	if err := a.Send(msg, aIKE[0], bIKE[0]); err != nil {
		t.Fatal(err)
	}
	r := cb.wait(t)
	if !bytes.Equal(r.pkt, msg) || r.local != bIKE[0] || r.remote != aIKE[0] {
		t.Errorf("got %x at %v from %v; want %x at %v from %v", r.pkt, r.local, r.remote, msg, bIKE[0], aIKE[0])
	}
	// A zero local address picks the IKE socket of the peer's family.
	if err := b.Send(msg, netip.AddrPort{}, aIKE[0]); err != nil {
		t.Fatal(err)
	}
	if r := ca.wait(t); r.remote != bIKE[0] {
		t.Errorf("reply from %v, want %v", r.remote, bIKE[0])
	}
	if st := b.Stats(); st.IKEIn != 1 || st.Sent != 1 {
		t.Errorf("B stats %+v, want 1 in and 1 sent", st)
	}
	// No socket on a port we don't have.
	if err := a.Send(msg, netip.AddrPortFrom(loop4, 1), bIKE[0]); err == nil {
		t.Error("Send from a port with no socket succeeded")
	}
}

func TestUDPNATTMarkerKeepaliveAndESP(t *testing.T) {
	cb := newCollector()
	sink := newCopySink()
	b := serveSink(t, Config{Addrs: []netip.Addr{loop4}}, sink, cb.handle)
	a := serve(t, Config{Addrs: []netip.Addr{loop4}}, newCollector().handle)
	_, bNATT := b.LocalAddrs()
	_, aNATT := a.LocalAddrs()

	// A plain socket plays the peer, to see the wire format.
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	msg := fakeIKE(0x22)
	if err := a.Send(msg, aNATT[0], peerAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0, 0, 0, 0}, msg...); !bytes.Equal(buf[:n], want) {
		t.Errorf("on the wire from the NAT-T port: %x, want the non-ESP marker then the message %x", buf[:n], want)
	}
	// Keepalives are sent bare, and only from the NAT-T port.
	aIKE, _ := a.LocalAddrs()
	if err := a.SendKeepalive(aIKE[0], peerAddr); err == nil {
		t.Error("SendKeepalive from the IKE port succeeded")
	}
	if err := a.SendKeepalive(aNATT[0], peerAddr); err != nil {
		t.Fatal(err)
	}
	if n, _, err := peer.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:n], []byte{0xff}) {
		t.Errorf("keepalive on the wire: %x %v, want ff", buf[:n], err)
	}

	send := func(d []byte) {
		t.Helper()
		if _, err := peer.WriteToUDPAddrPort(d, bNATT[0]); err != nil {
			t.Fatal(err)
		}
	}
	// Marked IKE: the marker is stripped.
	send(append([]byte{0, 0, 0, 0}, msg...))
	if r := cb.wait(t); !bytes.Equal(r.pkt, msg) || r.local != bNATT[0] || r.remote != peerAddr {
		t.Errorf("got %x at %v from %v; want %x at %v from %v", r.pkt, r.local, r.remote, msg, bNATT[0], peerAddr)
	}
	// A keepalive, a runt, and ESP never reach the IKE handler.
	send([]byte{0xff})
	send([]byte{0, 0})
	espPkt := []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb}
	send(espPkt)
	// A marked message too short for an IKE header is dropped too.
	send([]byte{0, 0, 0, 0, 1, 2, 3})
	cb.none(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := b.Stats()
		if st.KeepalivesIn == 1 && st.ESPIn == 1 && st.Invalid == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v; want 1 keepalive, 1 ESP, 2 invalid", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if esp := sink.packets(); len(esp) != 1 || !bytes.Equal(esp[0], espPkt) {
		t.Errorf("ESP sink got %x, want [%x]", esp, espPkt)
	}
	// Without an ESP callback, ESP is counted and dropped.
	if _, err := peer.WriteToUDPAddrPort(espPkt, aNATT[0]); err != nil {
		t.Fatal(err)
	}
	for a.Stats().ESPDropped != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("A stats %+v, want 1 ESP dropped", a.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A socket on the unspecified address learns each datagram's destination
// (IP_PKTINFO) and answers from it: any 127/8 address is local on lo.
func TestUDPWildcardPktinfo(t *testing.T) {
	cb := newCollector()
	b := serve(t, Config{Addrs: []netip.Addr{netip.IPv4Unspecified()}, NATTPort: -1}, cb.handle)
	bIKE, _ := b.LocalAddrs()
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), bIKE[0].Port())
	if _, err := peer.WriteToUDPAddrPort(fakeIKE(0x33), dst); err != nil {
		t.Fatal(err)
	}
	r := cb.wait(t)
	if r.local != dst {
		t.Fatalf("local address %v, want the datagram's destination %v", r.local, dst)
	}
	if err := b.Send(fakeIKE(0x44), r.local, r.remote); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from != dst {
		t.Errorf("reply came from %v, want %v (the address the peer talked to)", from, dst)
	}
}

// Mark is set before the Control hook runs, and the hook sees every socket.
func TestUDPMarkAndControl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_MARK needs CAP_NET_ADMIN; run as root (CI does)")
	}
	var mu sync.Mutex
	var marks []int
	var networks []string
	ctl := func(network, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			m, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				m = -1
			}
			marks = append(marks, m)
			networks = append(networks, network)
		})
	}
	tr, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4, netip.IPv6Loopback()}, Mark: 0x4f45, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if len(marks) != 4 {
		t.Fatalf("control ran %d times, want 4 (IKE and NAT-T on two addresses)", len(marks))
	}
	for i, m := range marks {
		if m != 0x4f45 {
			t.Errorf("socket %d (%s): SO_MARK %#x, want 0x4f45", i, networks[i], m)
		}
	}
	if networks[0] != "udp4" || networks[2] != "udp6" {
		t.Errorf("networks %v", networks)
	}
}

func TestUDPControlErrorFailsListen(t *testing.T) {
	_, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}, Control: func(string, string, syscall.RawConn) error {
		return syscall.EPERM
	}})
	if err == nil {
		t.Fatal("Listen succeeded although Control failed")
	}
}

func TestUDPServeStopsOnCancel(t *testing.T) {
	tr, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Serve(ctx, func([]byte, netip.AddrPort, netip.AddrPort) {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	ike, _ := tr.LocalAddrs()
	if err := tr.Send(fakeIKE(1), ike[0], ike[0]); err == nil {
		t.Error("Send after Serve returned succeeded; the sockets should be closed")
	}
}

func TestUDPBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Addrs: []netip.Addr{{}}},
		{Addrs: []netip.Addr{loop4}, Port: 70000},
	} {
		if _, err := Listen(context.Background(), cfg); err == nil {
			t.Errorf("Listen(%+v) succeeded", cfg)
		}
	}
}

// BenchmarkUDPSendReceive is one IKE-sized datagram from Send on one
// transport to the handler of another, over loopback on the NAT-T port
// (marker added and stripped).
func BenchmarkUDPSendReceive(b *testing.B) {
	got := make(chan struct{}, 1)
	rx, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}})
	if err != nil {
		b.Fatal(err)
	}
	tx, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rx.Serve(ctx, func([]byte, netip.AddrPort, netip.AddrPort) { got <- struct{}{} })
	go tx.Serve(ctx, func([]byte, netip.AddrPort, netip.AddrPort) {})
	_, rxNATT := rx.LocalAddrs()
	_, txNATT := tx.LocalAddrs()
	msg := bytes.Repeat([]byte{7}, 300)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := tx.Send(msg, txNATT[0], rxNATT[0]); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}

// SendESP puts ESP-in-UDP on the wire from the NAT-T port without the
// marker, and refuses what the peer would read as IKE or a keepalive, and
// the IKE port.
func TestUDPSendESP(t *testing.T) {
	a := serve(t, Config{Addrs: []netip.Addr{loop4}}, newCollector().handle)
	aIKE, aNATT := a.LocalAddrs()
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	espPkt := []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb}
	if err := a.SendESP(espPkt, aNATT[0], peerAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], espPkt) || from != aNATT[0] {
		t.Errorf("on the wire: %x from %v, want %x from %v", buf[:n], from, espPkt, aNATT[0])
	}
	for _, bad := range []struct {
		name  string
		pkt   []byte
		local netip.AddrPort
	}{
		{"zero SPI", append([]byte{0, 0, 0, 0}, espPkt[4:]...), aNATT[0]},
		{"runt", []byte{0xff}, aNATT[0]},
		{"IKE port", espPkt, aIKE[0]},
	} {
		if err := a.SendESP(bad.pkt, bad.local, peerAddr); err == nil {
			t.Errorf("%s: SendESP succeeded", bad.name)
		}
	}
	if st := a.Stats(); st.Sent != 1 || st.SendErrors != 3 {
		t.Errorf("stats %+v, want 1 sent and 3 errors", st)
	}
}
