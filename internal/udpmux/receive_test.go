package udpmux

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// espPacket is an ESP-in-UDP payload with SPI 0x12345678 and sequence
// number seq, filled with seq's low octet.
func espPacket(seq byte, n int) []byte {
	p := bytes.Repeat([]byte{seq}, n)
	copy(p, []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, seq})
	return p
}

// peerSocket is a plain UDP socket on loopback that plays the peer.
func peerSocket(t testing.TB) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return peer, peer.LocalAddr().(*net.UDPAddr).AddrPort()
}

// listenQueued opens a mux with sink and returns it with a func that
// starts serving: datagrams sent before that sit in the socket's queue
// and are read together.
func listenQueued(t *testing.T, cfg Config, sinkSet func(*Mux), h Handler) (*Mux, func()) {
	t.Helper()
	m, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sinkSet != nil {
		sinkSet(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := false
	t.Cleanup(func() {
		cancel()
		if !started {
			m.Close()
			return
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, func() {
		started = true
		go func() { done <- m.Serve(ctx, h) }()
	}
}

func ignoreIKE([]byte, netip.AddrPort, netip.AddrPort) {}

// Datagrams that wait in the socket are read in one recvmmsg and reach
// the sink in one batch, in order. (TestSinkOwnsBuffers checks the
// addresses that come with them.)
func TestBatchReadDeliversAllQueued(t *testing.T) {
	sink := newCopySink()
	m, start := listenQueued(t, Config{Addrs: []netip.Addr{loop4}, Batch: 16}, func(m *Mux) { m.SetESPSink(sink) }, ignoreIKE)
	_, natt := m.LocalAddrs()
	peer, _ := peerSocket(t)
	const n = 10
	for i := range n {
		if _, err := peer.WriteToUDPAddrPort(espPacket(byte(i+1), 100), natt[0]); err != nil {
			t.Fatal(err)
		}
	}
	start()
	sink.wait(t, n)
	if b := sink.batchSizes(); len(b) != 1 || b[0] != n {
		t.Errorf("the sink got batches %v, want one batch of %d", b, n)
	}
	if st := m.Stats(); st.Reads != 1 || st.ESPIn != n {
		t.Errorf("stats %+v, want 1 read and %d ESP in", st, n)
	}
	for i, p := range sink.packets() {
		if want := espPacket(byte(i+1), 100); !bytes.Equal(p, want) {
			t.Errorf("packet %d: %x, want %x", i, p, want)
		}
	}
}

// The sink owns what it was given: while it holds buffers, more datagrams
// arrive into other buffers and the held bytes stay as they were. Once it
// releases them they are reused, and no new buffer is allocated.
func TestSinkOwnsBuffers(t *testing.T) {
	sink := newHoldSink()
	m := serveSink(t, Config{Addrs: []netip.Addr{loop4}, NATTPort: 0, Batch: 4}, sink, ignoreIKE)
	_, natt := m.LocalAddrs()
	peer, peerAddr := peerSocket(t)
	send := func(first, n int) {
		t.Helper()
		for i := first; i < first+n; i++ {
			if _, err := peer.WriteToUDPAddrPort(espPacket(byte(i), 200), natt[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1, 3)
	sink.wait(t, 3)
	first := sink.packets()
	send(4, 12) // more than a batch: the slots must have new buffers
	sink.wait(t, 12)
	for i, p := range first {
		if want := espPacket(byte(i+1), 200); !bytes.Equal(p.Packet(), want) {
			t.Errorf("held packet %d changed to %x while the sink owned it, want %x", i, p.Packet(), want)
		}
		if p.Off != Headroom || len(p.Buf) != BufferSize || p.Local != natt[0] || p.Remote != peerAddr {
			t.Errorf("held packet %d: Off %d, len(Buf) %d, %v <- %v; want %d, %d, %v <- %v",
				i, p.Off, len(p.Buf), p.Local, p.Remote, Headroom, BufferSize, natt[0], peerAddr)
		}
	}
	seen := map[*byte]bool{}
	for _, p := range sink.packets() {
		if seen[&p.Buf[0]] {
			t.Fatal("two packets the sink holds share a buffer")
		}
		seen[&p.Buf[0]] = true
	}

	sink.releaseAll()
	allocated := m.Stats().BuffersAllocated
	for round := range 5 {
		send(100+round*4, 4)
		sink.wait(t, 4)
		sink.releaseAll()
	}
	if st := m.Stats(); st.BuffersAllocated != allocated {
		t.Errorf("%d buffers allocated after the sink gave %d back, want none: released buffers go back to the pool", st.BuffersAllocated-allocated, allocated)
	}
}

// A datagram longer than a pooled buffer spills into the overflow: IKE
// still arrives whole, ESP that long is dropped (no data plane takes it),
// and of two long datagrams in one read only the last is whole.
func TestLongDatagrams(t *testing.T) {
	cb := newCollector()
	sink := newCopySink()
	m, start := listenQueued(t, Config{Addrs: []netip.Addr{loop4}}, func(m *Mux) { m.SetESPSink(sink) }, cb.handle)
	_, natt := m.LocalAddrs()
	peer, _ := peerSocket(t)
	if err := peer.SetWriteBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	long := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	overwritten := append([]byte{0, 0, 0, 0}, long(0x41, 30000)...)
	whole := append([]byte{0, 0, 0, 0}, long(0x42, 20000)...)
	for _, d := range [][]byte{overwritten, whole} {
		if _, err := peer.WriteToUDPAddrPort(d, natt[0]); err != nil {
			t.Fatal(err)
		}
	}
	start()
	r := cb.wait(t)
	if !bytes.Equal(r.pkt, whole[4:]) {
		t.Errorf("IKE of %d octets arrived as %d octets (first %x)", len(whole)-4, len(r.pkt), r.pkt[:min(8, len(r.pkt))])
	}
	cb.none(t)
	if st := m.Stats(); st.Overrun != 1 || st.IKEIn != 1 {
		t.Errorf("stats %+v, want 1 overrun and 1 IKE in", st)
	}
	if _, err := peer.WriteToUDPAddrPort(espPacket(9, PayloadSize+1), natt[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().ESPDropped != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want the long ESP dropped", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(sink.packets()); n != 0 {
		t.Errorf("the sink got %d packets, want none", n)
	}
}

func TestSetESPSinkAfterServe(t *testing.T) {
	m := serve(t, Config{Addrs: []netip.Addr{loop4}}, ignoreIKE)
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		serving := m.serving
		m.mu.Unlock()
		if serving {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start")
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.SetESPSink(newCopySink()); err == nil {
		t.Error("SetESPSink after Serve succeeded; the readers would never see the sink")
	}
}

// The kernel data plane's options: UDP_ENCAP on the NAT-T socket only,
// and the XFRM bypass on every socket.
func TestKernelEncapAndBypass(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the XFRM socket bypass needs CAP_NET_ADMIN; run as root (CI does)")
	}
	m, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}, Bypass: BypassRequired, KernelEncap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, s := range m.socks {
		rc, err := s.conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_ENCAP) })
		want := 0
		if s.natt {
			want = unix.UDP_ENCAP_ESPINUDP
		}
		if gerr != nil || v != want {
			t.Errorf("%s socket %v: UDP_ENCAP %d (%v), want %d", s.kind(), s.addr, v, gerr, want)
		}
	}
}

func TestPoolTakesBackOnlyItsBuffers(t *testing.T) {
	p := newPool(2)
	a, b, c := p.get(), p.get(), p.get()
	if p.allocated.Load() != 3 || len(a) != BufferSize {
		t.Fatalf("allocated %d buffers of %d octets, want 3 of %d", p.allocated.Load(), len(a), BufferSize)
	}
	p.put(make([]byte, 100)) // not ours: ignored
	p.put(a[:10])            // ours, resliced: taken back whole
	p.put(b)
	p.put(c) // the free list is full: left to the GC
	if len(p.free) != 2 {
		t.Fatalf("free list holds %d, want 2", len(p.free))
	}
	if got := p.get(); len(got) != BufferSize || &got[0] != &a[0] {
		t.Error("get did not return the first buffer put back, whole")
	}
	if p.allocated.Load() != 3 {
		t.Errorf("allocated %d, want 3: the free list serves first", p.allocated.Load())
	}
}
