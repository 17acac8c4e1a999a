package userspace

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// externalEncap is a NAT-T socket the device does not own, as the IKE
// daemon's is: it hands what is not IKE to DeliverEncap and sends the
// device's ESP-in-UDP.
type externalEncap struct {
	conn   *net.UDPConn
	dev    atomic.Pointer[Device]
	nonESP atomic.Uint64
}

func openExternalEncap(t *testing.T, ns *netnstest.NS) *externalEncap {
	t.Helper()
	x := &externalEncap{}
	err := ns.Do(func() error {
		lc := net.ListenConfig{Control: markControl(0x10e2, nil)}
		c, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:4500")
		if err != nil {
			return err
		}
		x.conn = c.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: NAT-T socket: %v", ns.Name, err)
	}
	t.Cleanup(func() { x.conn.Close() })
	go func() {
		// Each datagram in a buffer of its own with headroom, as
		// internal/udpmux reads them, so the device borrows it.
		const headroom = 128
		for {
			buf := make([]byte, headroom+9216)
			n, from, err := x.conn.ReadFromUDPAddrPort(buf[headroom:])
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pkt := buf[headroom : headroom+n]
			if err != nil || n < 4 {
				continue
			}
			if pkt[0]|pkt[1]|pkt[2]|pkt[3] == 0 {
				x.nonESP.Add(1) // IKE: not the data plane's
				continue
			}
			if d := x.dev.Load(); d != nil {
				d.DeliverEncap([]kernel.EncapPacket{{Buf: buf, Off: headroom, Len: n, Remote: from}}, func([]byte) {})
			}
		}
	}()
	return x
}

func (x *externalEncap) send(pkt []byte, local, remote netip.AddrPort) error {
	if local.Port() != 4500 {
		return errors.New("not from the NAT-T port")
	}
	_, err := x.conn.WriteToUDPAddrPort(pkt, remote)
	return err
}

// TestNetnsExternalEncap carries ESP-in-UDP through sockets the devices do
// not own (Config.EncapSend and DeliverEncap, as oemeshd does with its
// UDP mux's NAT-T socket): pings pass both ways, the wire shows only
// ESP-in-UDP, and IKE-marked datagrams on the shared port stay with their
// owner.
func TestNetnsExternalEncap(t *testing.T) {
	p := netnstest.NewPair(t, "usx")
	xa, xb := openExternalEncap(t, p.A), openExternalEncap(t, p.B)
	da := startDevice(t, p.A, Config{EncapSend: xa.send})
	db := startDevice(t, p.B, Config{EncapSend: xb.send})
	xa.dev.Store(da)
	xb.dev.Store(db)
	if da.socks.udp4 != nil || da.socks.udp6 != nil {
		t.Fatal("the device opened its own ESP-in-UDP socket beside EncapSend")
	}
	trap(t, da, host(p.B4), kernel.GroupPrivate)
	trap(t, db, host(p.A4), kernel.GroupPrivate)
	pa, pb := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, true)
	pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	pb.Encap = pa.Encap
	install(t, da, db, pa, pb)

	capt := startCapture(t, p.A, p.ADev)
	p.A.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "3", p.B4.String())
	p.B.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "3", p.A4.String())
	// An IKE message behind the non-ESP marker from B's NAT-T socket.
	if _, err := xb.conn.WriteToUDPAddrPort([]byte{0, 0, 0, 0, 1, 2, 3, 4}, netip.AddrPortFrom(p.A4, 4500)); err != nil {
		t.Fatal(err)
	}
	p.A.Run(t, "ping", "-c", "1", "-W", "3", p.B4.String())
	counts := capt.stop()
	t.Logf("frames on %s: %v", p.ADev, counts)
	for k, n := range counts {
		switch k {
		case "esp-in-udp", "arp", "nd":
		default:
			t.Errorf("%d frames of %s crossed the wire", n, k)
		}
	}
	// 7 echo requests and 7 replies from A's side, plus the IKE datagram.
	if counts["esp-in-udp"] < 14 {
		t.Errorf("too few ESP-in-UDP frames: %v", counts)
	}
	if xa.nonESP.Load() != 1 {
		t.Errorf("A's NAT-T socket kept %d IKE datagrams, want 1", xa.nonESP.Load())
	}
	c, err := da.SACounters(context.Background(), pa.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.InPackets < 7 || c.OutPackets < 7 {
		t.Errorf("A's counters: %+v", c)
	}
	if s := da.Stats(); len(s.Dropped) != 0 {
		t.Errorf("A dropped packets: %v", s.Dropped)
	}
}

// TestInjectWithoutEncapSend: a device with its own sockets counts and
// drops injected packets.
func TestInjectWithoutEncapSend(t *testing.T) {
	d := bareDevice()
	d.socks = &sockets{}
	released := injectOne(d, []byte{0, 0, 1, 0, 0, 0, 0, 1}, netip.MustParseAddrPort("192.0.2.1:4500"))
	if n := d.drops[dropNoSA].Load(); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
	if released.Load() != 1 {
		t.Errorf("the dropped packet's buffer was released %d times, want once", released.Load())
	}
}

// TestInjectQueue: a full queue drops and counts, a batch read takes what
// is queued up to the batch's size, and a closed reader reports
// net.ErrClosed and takes nothing more.
func TestInjectQueue(t *testing.T) {
	d := bareDevice()
	d.socks = &sockets{inject: newInjectReader(3)}
	from := netip.MustParseAddrPort("192.0.2.1:4500")
	var released atomic.Int64
	for i := range 4 {
		released.Add(injectOne(d, []byte{0, 0, 1, byte(i), 0, 0, 0, 1}, from).Load())
	}
	released.Add(injectOne(d, make([]byte, bufSize), from).Load())
	if n, m := d.drops[dropInjectBacklog].Load(), d.drops[dropTooBig].Load(); n != 1 || m != 1 {
		t.Errorf("dropped %d for backlog and %d too big, want 1 and 1", n, m)
	}
	if released.Load() != 2 {
		t.Errorf("%d buffers released at once, want the 2 dropped ones", released.Load())
	}
	b := testInBatch(2)
	n, err := d.socks.inject.readBatch(b)
	if err != nil || n != 2 || b.msgs[0].N != 8 || b.elems[1].buf[bufHeadroom+3] != 1 {
		t.Fatalf("first read: %d %v %+v", n, err, b.msgs)
	}
	d.putIn(b)
	if n, err := d.socks.inject.readBatch(b); err != nil || n != 1 || b.elems[0].buf[bufHeadroom+3] != 2 {
		t.Fatalf("second read: %d %v", n, err)
	}
	d.putIn(b)
	d.socks.close()
	if n, err := d.socks.inject.readBatch(b); !errors.Is(err, net.ErrClosed) || n != 0 {
		t.Errorf("read after close: %d %v", n, err)
	}
	injectOne(d, []byte{0, 0, 1, 9, 0, 0, 0, 1}, from)
	if n := d.drops[dropInjectBacklog].Load(); n != 2 {
		t.Errorf("after close: %d backlog drops, want 2", n)
	}
}

// injectOne hands the device one packet as the mux does, in a buffer of
// its own, and returns how often the device has released that buffer.
func injectOne(d *Device, pkt []byte, from netip.AddrPort) *atomic.Int64 {
	var released atomic.Int64
	d.DeliverEncap([]kernel.EncapPacket{{Buf: pkt, Len: len(pkt), Remote: from}}, func(b []byte) {
		if &b[0] == &pkt[0] {
			released.Add(1)
		}
	})
	return &released
}

// TestDeliverEncapReleasesAfterRead: the device keeps a delivered buffer
// that it cannot lend to a batch (no headroom) until its receive loop has
// copied the packet, then gives it back; closing gives back what was
// still queued.
func TestDeliverEncapReleasesAfterRead(t *testing.T) {
	d := bareDevice()
	d.socks = &sockets{inject: newInjectReader(4)}
	from := netip.MustParseAddrPort("192.0.2.1:4500")
	buf := make([]byte, 32)
	copy(buf[16:], []byte{0, 0, 1, 7, 0, 0, 0, 1})
	var released atomic.Int64
	d.DeliverEncap([]kernel.EncapPacket{{Buf: buf, Off: 16, Len: 8, Remote: from}}, func(b []byte) {
		if &b[0] == &buf[0] {
			released.Add(1)
		}
	})
	if released.Load() != 0 {
		t.Fatal("the buffer was released before the receive loop read it")
	}
	b := testInBatch(1)
	if n, err := d.socks.inject.readBatch(b); err != nil || n != 1 || b.msgs[0].N != 8 || b.elems[0].buf[bufHeadroom+3] != 7 {
		t.Fatalf("read: %d %v %+v", n, err, b.msgs)
	}
	if released.Load() != 1 {
		t.Errorf("released %d times after the read, want once: a buffer with no headroom is copied", released.Load())
	}
	held := injectOne(d, []byte{0, 0, 1, 8, 0, 0, 0, 1}, from)
	d.socks.close()
	if held.Load() != 1 {
		t.Errorf("a queued buffer was released %d times at close, want once", held.Load())
	}
}

// testInBatch is an inbound batch of n elements with buffers of their own,
// as the receive loop makes them.
func testInBatch(n int) *inBatch {
	b := &inBatch{elems: make([]inElem, n), msgs: make([]ipv4.Message, n), free: make(chan *inBatch, 1)}
	for i := range b.elems {
		b.elems[i].buf = new(packetBuf)
		b.msgs[i].Buffers = [][]byte{b.elems[i].buf[bufHeadroom:]}
	}
	return b
}

// TestDeliverEncapLendsBuffers: a buffer with headroom before the packet
// (as the mux's are) is not copied: the batch element opens the packet in
// it, and it goes back to its owner only when the batch is done (putIn),
// when the element has its own buffer again.
func TestDeliverEncapLendsBuffers(t *testing.T) {
	d := bareDevice()
	d.socks = &sockets{inject: newInjectReader(4)}
	const off = 128 // kernel.EncapPacket.Off as internal/udpmux gives it
	buf := make([]byte, off+9216)
	copy(buf[off:], []byte{0, 0, 1, 7, 0, 0, 0, 1})
	var released atomic.Int64
	d.DeliverEncap([]kernel.EncapPacket{{Buf: buf, Off: off, Len: 8}}, func(b []byte) {
		if &b[0] == &buf[0] {
			released.Add(1)
		}
	})
	b := testInBatch(2)
	own := b.elems[0].buf
	if n, err := d.socks.inject.readBatch(b); err != nil || n != 1 || b.msgs[0].N != 8 {
		t.Fatalf("read: %d %v", n, err)
	}
	e := &b.elems[0]
	if &e.buf[bufHeadroom] != &buf[off] {
		t.Fatal("the packet was copied into the element's buffer, not lent")
	}
	if e.buf[bufHeadroom+3] != 7 || released.Load() != 0 {
		t.Fatalf("lent buffer: octet %d, released %d times; want 7 and not yet", e.buf[bufHeadroom+3], released.Load())
	}
	d.putIn(b)
	if released.Load() != 1 || e.buf != own {
		t.Errorf("after putIn: released %d times (want once), own buffer back %v", released.Load(), e.buf == own)
	}
	d.putIn(b) // a second putIn gives back nothing more
	if released.Load() != 1 {
		t.Errorf("released %d times after a second putIn, want once", released.Load())
	}
}
