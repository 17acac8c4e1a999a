package userspace

import (
	"net"
	"net/netip"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// These tests check that each switch of Techniques (and Workers 1)
// really switches its technique off, so that the rows of
// bench/usthroughput -steps measure what they name.

// hasSegmentCmsg reports whether oob carries a UDP_SEGMENT control message.
func hasSegmentCmsg(t *testing.T, oob []byte) bool {
	t.Helper()
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		t.Fatalf("control messages %x: %v", oob, err)
	}
	for _, cm := range cms {
		if cm.Header.Level == unix.SOL_UDP && cm.Header.Type == unix.UDP_SEGMENT {
			return true
		}
	}
	return false
}

// TestTechniquesGSOSwitch: with GSO on, a train of equal-sized packets of
// one SA goes down as one message with UDP_SEGMENT; with it off (what
// Techniques.NoUDPGSO leaves in sockets.gso) as one message per packet
// and no UDP_SEGMENT anywhere.
func TestTechniquesGSOSwitch(t *testing.T) {
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, true)
	spa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	pa := mustPair(t, spa)
	for _, gso := range []bool{true, false} {
		d := bareDevice(pa)
		d.socks = testSockets()
		d.socks.gso.Store(gso)
		s := newSender(d)
		for range 3 {
			s.udpPkts = append(s.udpPkts, make([]byte, 1200))
			s.udpSAs = append(s.udpSAs, &pa.out)
		}
		s.flushUDP()
		segs := 0
		for _, m := range s.udp4 {
			if hasSegmentCmsg(t, m.OOB) {
				segs++
			}
		}
		switch {
		case gso && (len(s.udp4) != 1 || segs != 1 || len(s.udp4[0].Buffers) != 3):
			t.Errorf("GSO on: %d messages, %d with UDP_SEGMENT; want one run of 3", len(s.udp4), segs)
		case !gso && (len(s.udp4) != 3 || segs != 0):
			t.Errorf("GSO off: %d messages, %d with UDP_SEGMENT; want 3 and none", len(s.udp4), segs)
		}
	}
}

// callSizes records how many messages each WriteBatch call was given.
type callSizes struct{ calls []int }

func (c *callSizes) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	c.calls = append(c.calls, len(ms))
	return len(ms), nil
}

// TestTechniquesBatchBoundsSendmmsg: Techniques.Batch is the most
// messages one sendmmsg carries, on the raw ESP path (writeBatch) and the
// ESP-in-UDP path (writeUDP); 1 is a system call per packet.
func TestTechniquesBatchBoundsSendmmsg(t *testing.T) {
	for _, c := range []struct{ batch, msgs, calls int }{{0, 10, 1}, {1, 10, 10}, {4, 10, 3}} {
		d := bareDevice()
		var err error
		d.cfg.Techniques.Batch = c.batch
		if d.cfg.Techniques, err = d.cfg.Techniques.withDefaults(); err != nil {
			t.Fatal(err)
		}
		ms := make([]ipv4.Message, c.msgs)
		for i := range ms {
			ms[i].Buffers = [][]byte{{byte(i)}}
		}
		var raw, udp callSizes
		d.writeBatch(&raw, ms)
		newSender(d).writeUDP(&udp, ms)
		for _, got := range []*callSizes{&raw, &udp} {
			if len(got.calls) != c.calls {
				t.Errorf("Batch %d, %d messages: calls of %v, want %d calls", c.batch, c.msgs, got.calls, c.calls)
			}
		}
	}
	if _, err := (&Techniques{Batch: socketBatch + 1}).withDefaults(); err == nil {
		t.Error("a Batch larger than the batches allocated was accepted")
	}
}

// TestTechniquesNoInlineCrypto: with NoInlineCrypto even a lone packet
// goes to the workers; with no workers (Workers 1) every batch is sealed
// by the reader.
func TestTechniquesNoInlineCrypto(t *testing.T) {
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, true)
	pa := mustPair(t, spa)
	for _, c := range []struct {
		noInline, noWorkers bool
		n                   int
		toWorkers           bool
	}{{false, false, 1, false}, {true, false, 1, true}, {false, true, socketBatch, false}, {false, false, socketBatch, true}} {
		d := bareDevice(pa)
		d.cfg.Techniques.NoInlineCrypto, d.noWorkers = c.noInline, c.noWorkers
		d.encQ, d.sendQ = make(chan *outBatch, 1), make(chan *outBatch, 1)
		ob := &outBatch{elems: make([]outElem, c.n), n: c.n}
		for i := range c.n {
			buf, size := udpPacket(addrA, addrB, []byte{byte(i)})
			ip, _ := parseIP(buf[bufHeadroom : bufHeadroom+size])
			ob.elems[i].buf = buf
			d.prepareESP(&ob.elems[i], pa, &ip)
		}
		var sc cryptoScratch
		d.dispatchOut(ob, &sc)
		<-d.sendQ
		got := len(d.encQ) == 1
		if got != c.toWorkers {
			t.Errorf("NoInlineCrypto %v, no workers %v, %d packets: to the workers %v, want %v", c.noInline, c.noWorkers, c.n, got, c.toWorkers)
		}
	}
}

// workerGoroutines counts the seal and open workers running in the process.
func workerGoroutines(t *testing.T) int {
	t.Helper()
	var sb strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&sb, 2); err != nil {
		t.Fatal(err)
	}
	return strings.Count(sb.String(), "(*Device).sealWorker(") + strings.Count(sb.String(), "(*Device).openWorker(")
}

// TestNetnsTechniquesOff starts a device with every technique off (the
// first row of bench/usthroughput -steps) and checks that each is off on
// the live sockets and goroutines, and that TCP still crosses ESP-in-UDP
// both ways, intact, to a device with everything on.
func TestNetnsTechniquesOff(t *testing.T) {
	p := netnstest.NewPair(t, "uste")
	before := workerGoroutines(t)
	off := Config{Workers: 1, NoOffloads: true, Techniques: Techniques{
		NoUDPGSO: true, NoUDPGRO: true, Batch: 1, NoInlineCrypto: true, SmallSocketBuffers: true}}
	da := startDevice(t, p.A, off)
	db := startDevice(t, p.B, Config{Workers: 3})
	// A goroutine just started may not be in the profile yet: wait for
	// db's six, then look again; da's would show as more.
	deadline := time.Now().Add(5 * time.Second)
	for workerGoroutines(t)-before < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := workerGoroutines(t) - before; n != 6 {
		t.Errorf("Workers 1 beside Workers 3: %d worker goroutines, want 6 (3 each way for Workers 3, none for Workers 1)", n)
	}
	if s := da.Stats(); s.UDPGSO || s.UDPGRO || s.Offloads || s.TUNBatch != 1 {
		t.Errorf("all off: stats %+v", s)
	}
	// GSO and GRO off alone, with the TUN offloads on.
	p2 := netnstest.NewPair(t, "ustg")
	dg := startDevice(t, p2.A, Config{Techniques: Techniques{NoUDPGSO: true, NoUDPGRO: true}})
	if s := dg.Stats(); s.UDPGSO || s.UDPGRO || !s.Offloads {
		t.Errorf("NoUDPGSO and NoUDPGRO: stats %+v; want both off, TUN offloads on", s)
	}
	if rcv := udpRcvBuf(t, da); rcv >= 2*socketBufferSize {
		t.Errorf("SmallSocketBuffers: SO_RCVBUF %d, want below the forced %d", rcv, 2*socketBufferSize)
	}
	if rcv := udpRcvBuf(t, db); rcv < 2*socketBufferSize {
		t.Errorf("default device: SO_RCVBUF %d, want at least %d", rcv, 2*socketBufferSize)
	}
	if s := db.Stats(); !s.UDPGSO || !s.UDPGRO {
		t.Errorf("default device: stats %+v; want UDP GSO and GRO on", s)
	}

	trap(t, da, host(p.B4), kernel.GroupPrivate)
	trap(t, db, host(p.A4), kernel.GroupPrivate)
	pa, pb := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, true)
	pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	pb.Encap = pa.Encap
	install(t, da, db, pa, pb)
	for _, dir := range []struct {
		name     string
		from, to *netnstest.NS
		at       netip.Addr
	}{{"A→B", p.A, p.B, p.B4}, {"B→A", p.B, p.A, p.A4}} {
		sent, got := tcpTransfer(t, dir.from, dir.to, netip.AddrPortFrom(dir.at, 5001), 8<<20)
		if sent != got {
			t.Fatalf("TCP %s: sent SHA-256 %x, received %x", dir.name, sent, got)
		}
	}
}

// udpRcvBuf is SO_RCVBUF of d's own IPv4 ESP-in-UDP socket.
func udpRcvBuf(t *testing.T, d *Device) int {
	t.Helper()
	for _, c := range d.socks.all {
		uc, ok := c.(*net.UDPConn)
		if !ok || !netip.MustParseAddrPort(uc.LocalAddr().String()).Addr().Is4() {
			continue
		}
		rc, err := uc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var rcv int
		var gerr error
		if err := rc.Control(func(fd uintptr) { rcv, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return rcv
	}
	t.Fatal("no IPv4 UDP socket")
	return 0
}
