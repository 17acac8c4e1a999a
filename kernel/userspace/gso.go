package userspace

import (
	"syscall"

	"github.com/oemesh/oemesh/internal/udpgso"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP segmentation offload (GSO, UDP_SEGMENT) and receive offload (GRO,
// UDP_GRO) for ESP-in-UDP on the device's own sockets.
//
// Sending: the sealed packets of one SA in one flush form a train; a run
// of equal-sized packets (the last may be shorter) goes to the kernel as
// one message whose iovecs are the packets themselves, with a UDP_SEGMENT
// control message giving the size: one sendmmsg slot, one trip down the
// stack, and the kernel (or the NIC) cuts it into datagrams identical to
// the ones it would have sent one by one. Nothing is copied.
//
// Receiving: with UDP_GRO the kernel hands over a run of datagrams of one
// flow as one buffer with the segment size in a control message
// (groReader). Each segment is copied out into the batch element's own
// buffer: the run arrives in one large buffer, and the packets must be
// opened and written to the TUN device each in a buffer of its own.
//
// Both are probed when the socket opens; a kernel without them gets the
// one-datagram-per-message path, and Stats says which is active. A GSO
// send the kernel refuses with EIO (no checksum offload on the route's
// device) turns GSO off for good and resends the run one by one.

const (
	// groBatch is how many (coalesced) datagrams one GRO read takes;
	// groBufSize holds the largest run the kernel coalesces.
	groBatch   = 16
	groBufSize = 65535
)

// probeGSO reports whether the socket takes UDP_SEGMENT (Linux 4.18).
func probeGSO(rc syscall.RawConn) bool {
	ok := false
	_ = rc.Control(func(fd uintptr) {
		ok = udpgso.ProbeGSO(int(fd))
	})
	return ok
}

// enableGRO turns UDP_GRO on (Linux 5.0) and reports whether it is.
func enableGRO(rc syscall.RawConn) bool {
	ok := false
	_ = rc.Control(func(fd uintptr) {
		ok = udpgso.EnableGRO(int(fd))
	})
	return ok
}

// groReader reads a UDP socket (up to groBatch messages per recvmmsg, or
// Techniques.Batch when smaller) with UDP_GRO on and hands out one
// datagram per batch element, the runs the kernel coalesced cut back into
// their datagrams. What does not fit one batch waits for the next call.
type groReader struct {
	conn interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
	}
	msgs []ipv4.Message
	n    int // datagrams of the last read
	i    int // the one being handed out
	off  int // where its next segment starts
}

func newGROReader(conn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}, batch int) *groReader {
	g := &groReader{conn: conn, msgs: make([]ipv4.Message, min(groBatch, max(batch, 1)))}
	for i := range g.msgs {
		g.msgs[i].Buffers = [][]byte{make([]byte, groBufSize)}
		g.msgs[i].OOB = make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	}
	return g
}

func (g *groReader) readBatch(b *inBatch) (int, error) {
	if g.i >= g.n {
		for i := range g.msgs {
			g.msgs[i].OOB = g.msgs[i].OOB[:cap(g.msgs[i].OOB)]
		}
		n, err := g.conn.ReadBatch(g.msgs, 0)
		if err != nil {
			g.n, g.i = 0, 0
			return 0, err
		}
		g.n, g.i, g.off = n, 0, 0
	}
	return g.split(b), nil
}

// split hands out the datagrams read and not handed out yet, as many as
// fit b.
func (g *groReader) split(b *inBatch) int {
	out := 0
	for g.i < g.n && out < len(b.elems) {
		m := &g.msgs[g.i]
		data := m.Buffers[0][:m.N]
		seg := udpgso.Segment(m.OOB[:m.NN])
		if seg <= 0 {
			seg = len(data)
		}
		if len(data) == 0 { // hand it on, to be counted as truncated
			b.msgs[out].N, b.msgs[out].Addr = 0, m.Addr
			out++
			g.i++
			continue
		}
		for g.off < len(data) && out < len(b.elems) {
			end := min(g.off+seg, len(data))
			n := copy(b.elems[out].buf[bufHeadroom:], data[g.off:end])
			b.msgs[out].N, b.msgs[out].Addr = n, m.Addr
			out++
			g.off = end
		}
		if g.off >= len(data) {
			g.i, g.off = g.i+1, 0
		}
	}
	return out
}
