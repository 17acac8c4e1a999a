package userspace

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"unsafe"

	"github.com/oemesh/oemesh/internal/udpgso"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

func TestSegmentCmsg(t *testing.T) {
	pktinfo := sourceOOB(addrA)
	oob := udpgso.AppendSegmentCmsg(append([]byte(nil), pktinfo...), 1416)
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("parse %x: %d messages, %v", oob, len(msgs), err)
	}
	m := msgs[1]
	if m.Header.Level != unix.IPPROTO_UDP || m.Header.Type != unix.UDP_SEGMENT || binary.NativeEndian.Uint16(m.Data) != 1416 {
		t.Errorf("UDP_SEGMENT message %+v %x", m.Header, m.Data)
	}
}

// groCmsg builds the control message the kernel gives a coalesced read,
// behind a pktinfo one so that groSegment has to walk.
func groCmsg(seg int) []byte {
	oob := append([]byte(nil), sourceOOB(addrA)...)
	start := len(oob)
	oob = append(oob, make([]byte, unix.CmsgSpace(4))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[start]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(oob[start+unix.CmsgLen(0):], uint32(seg))
	return oob
}

// fakeBatchConn returns the datagrams of reads, one read per call.
type fakeBatchConn struct {
	reads [][]fakeDatagram
}

type fakeDatagram struct {
	data []byte
	seg  int // 0: not coalesced
}

func (c *fakeBatchConn) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	if len(c.reads) == 0 {
		return 0, net.ErrClosed
	}
	r := c.reads[0]
	c.reads = c.reads[1:]
	for i, d := range r {
		ms[i].N = copy(ms[i].Buffers[0], d.data)
		ms[i].NN = 0
		if d.seg > 0 {
			ms[i].NN = copy(ms[i].OOB, groCmsg(d.seg))
		}
		ms[i].Addr = &net.UDPAddr{Port: 4500 + i}
	}
	return len(r), nil
}

// readAllGRO splits what conn returns through a groReader into batches
// of size elements, and returns the datagrams in order.
func readAllGRO(t testing.TB, conn *fakeBatchConn, size int) [][]byte {
	g := newGROReader(conn, groBatch)
	b := &inBatch{elems: make([]inElem, size), msgs: make([]ipv4.Message, size)}
	for i := range b.elems {
		b.elems[i].buf = new(packetBuf)
	}
	var out [][]byte
	for {
		n, err := g.readBatch(b)
		if err != nil {
			return out
		}
		if n == 0 || n > size {
			t.Fatalf("readBatch returned %d elements for a batch of %d", n, size)
		}
		for i := range n {
			out = append(out, append([]byte(nil), b.elems[i].buf[bufHeadroom:bufHeadroom+b.msgs[i].N]...))
		}
	}
}

func TestGROReaderSplits(t *testing.T) {
	run := func(seg, n, last int) []byte { // n segments, the last one last octets
		var b []byte
		for i := range n {
			l := seg
			if i == n-1 {
				l = last
			}
			b = append(b, bytes.Repeat([]byte{byte(len(b)/seg + 1)}, l)...)
		}
		return b
	}
	conn := &fakeBatchConn{reads: [][]fakeDatagram{
		{{data: run(1000, 5, 1000), seg: 1000}, {data: []byte("single")}, {data: run(300, 3, 7), seg: 300}},
		{{data: run(100, 40, 100), seg: 100}},
	}}
	got := readAllGRO(t, conn, 4) // a batch smaller than a run: it spans calls
	var want []int
	for range 5 {
		want = append(want, 1000)
	}
	want = append(want, 6, 300, 300, 7)
	for range 40 {
		want = append(want, 100)
	}
	if len(got) != len(want) {
		t.Fatalf("%d datagrams, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != want[i] {
			t.Errorf("datagram %d: %d octets, want %d", i, len(got[i]), want[i])
		}
	}
	if !bytes.Equal(got[5], []byte("single")) || got[1][0] != 2 || got[8][0] != 3 {
		t.Errorf("datagrams out of order: %x %x %x", got[5], got[1][:1], got[8][:1])
	}
}

// FuzzGROSplit checks the glue around UDP_GRO: whatever the segment size
// the kernel reports and whatever the batch size, the datagrams handed
// out put back together are what was read, each at most one segment long
// and all but the last of a run exactly one.
func FuzzGROSplit(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1}, 4000), uint16(1400), uint8(3))
	f.Add([]byte{}, uint16(0), uint8(1))
	f.Add([]byte{1, 2, 3}, uint16(1), uint8(64))
	f.Fuzz(func(t *testing.T, data []byte, seg uint16, batch uint8) {
		if len(data) > groBufSize || batch == 0 {
			return
		}
		s := int(seg)
		if s > bufSize-bufHeadroom {
			s = bufSize - bufHeadroom // the kernel never coalesces past the MTU
		}
		if s == 0 && len(data) > bufSize-bufHeadroom {
			return // one datagram longer than a buffer: truncated, as recvmmsg would
		}
		conn := &fakeBatchConn{reads: [][]fakeDatagram{{{data: data, seg: s}}}}
		got := readAllGRO(t, conn, int(batch))
		var joined []byte
		for i, d := range got {
			if s > 0 && (len(d) > s || (i < len(got)-1 && len(d) != s)) {
				t.Fatalf("datagram %d of %d: %d octets with segment %d", i, len(got), len(d), s)
			}
			joined = append(joined, d...)
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("split of %d octets at %d put back together is %d octets", len(data), s, len(joined))
		}
	})
}

// BenchmarkGROSplit cuts a coalesced run of 40 datagrams of 1,400 octets
// into batch elements, as the receive loop does after each GRO read; it
// allocates nothing.
func BenchmarkGROSplit(b *testing.B) {
	g := newGROReader(nil, groBatch)
	run := bytes.Repeat([]byte{7}, 40*1400)
	m := &g.msgs[0]
	m.N = copy(m.Buffers[0], run)
	m.NN = copy(m.OOB, groCmsg(1400))
	batch := &inBatch{elems: make([]inElem, socketBatch), msgs: make([]ipv4.Message, socketBatch)}
	for i := range batch.elems {
		batch.elems[i].buf = new(packetBuf)
	}
	b.SetBytes(int64(len(run)))
	b.ReportAllocs()
	for b.Loop() {
		g.n, g.i, g.off = 1, 0, 0
		if n := g.split(batch); n != 40 {
			b.Fatalf("%d datagrams, want 40", n)
		}
	}
}
