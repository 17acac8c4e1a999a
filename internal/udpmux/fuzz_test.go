package udpmux

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testReader is a reader of a socket that is not open, for feeding the
// demultiplexer datagrams directly.
func testReader(tb testing.TB, natt bool, sink *copySink, h Handler) *reader {
	tb.Helper()
	m := &Mux{cfg: Config{Batch: 32}, log: slog.New(slog.DiscardHandler), pool: newPool(64)}
	m.release = m.pool.put
	r, err := m.newReader(&socket{natt: natt, addr: netip.MustParseAddrPort("127.0.0.1:4500")}, h, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if sink != nil {
		r.sink = sink
	}
	return r
}

// fill puts datagram d into slot i as recvmmsg would.
func (r *reader) fill(i int, d []byte) {
	n := copy(r.b.bufs[i][Headroom:Headroom+PayloadSize], d)
	copy(r.b.overflowOf(i), d[n:])
	r.b.hdrs[i].Len = uint32(len(d))
}

// FuzzDemux feeds arbitrary datagrams to both kinds of socket: no panic,
// every datagram is handed on or counted as dropped exactly once, IKE
// reaches the handler without the marker and at least a header long, and
// the sink sees only ESP.
func FuzzDemux(f *testing.F) {
	f.Add([]byte{0xff}, true)
	f.Add(append([]byte{0, 0, 0, 0}, fakeIKE(1)...), true)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, true)
	f.Add(fakeIKE(2), false)
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, d []byte, natt bool) {
		if len(d) > maxDatagram {
			return
		}
		handled := 0
		sink := newCopySink()
		r := testReader(t, natt, sink, func(p []byte, _, _ netip.AddrPort) {
			handled++
			if len(p) < ikeHeaderLen {
				t.Fatalf("handler got %d octets, shorter than an IKE header", len(p))
			}
			if natt && len(p) != len(d)-4 {
				t.Fatalf("handler got %d octets of a %d-octet marked datagram", len(p), len(d))
			}
		})
		r.fill(0, d)
		r.dispatch(1)
		st := r.m.Stats()
		if total := uint64(handled) + st.ESPIn + st.ESPDropped + st.KeepalivesIn + st.Invalid; total != 1 {
			t.Fatalf("datagram %x accounted %d times (stats %+v, handled %d)", d, total, st, handled)
		}
		for _, p := range sink.packets() {
			if !natt || !isESP(p) {
				t.Fatalf("the sink got %x from a natt=%v socket, which is not ESP", p, natt)
			}
		}
	})
}

// FuzzControlMessages: the pktinfo parser never panics on what the
// kernel (or a bug) puts in the control buffer.
func FuzzControlMessages(f *testing.F) {
	f.Add([]byte{28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 127, 0, 0, 1, 127, 0, 0, 3})
	f.Fuzz(func(t *testing.T, oob []byte) {
		pktinfoDst(oob)
	})
}

// FuzzGRORun feeds a coalesced run (UDP_GRO) of arbitrary octets and
// segment size to a NAT-T reader: no panic, every segment is accounted
// for exactly once, and the ESP the sink gets are the run's segments,
// unchanged and in order.
func FuzzGRORun(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 64), uint16(10))
	f.Add(bytes.Repeat([]byte{1}, 30000), uint16(1400))
	f.Add([]byte{0xff, 0xff}, uint16(1))
	f.Fuzz(func(t *testing.T, d []byte, seg uint16) {
		if len(d) > maxDatagram || seg == 0 || int(seg) >= len(d) || len(d)/int(seg) >= 1000 {
			return // the kernel coalesces at most 64; copySink holds 1024
		}
		sink := newCopySink()
		m := &Mux{cfg: Config{Batch: 32}, log: slog.New(slog.DiscardHandler), pool: newPool(64)}
		m.release = m.pool.put
		handled := 0
		r, err := m.newReader(&socket{natt: true, gro: true, addr: netip.MustParseAddrPort("127.0.0.1:4500")}, func([]byte, netip.AddrPort, netip.AddrPort) { handled++ }, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.sink = sink
		r.b.reset()
		r.fill(0, d)
		oob := r.b.oob[:oobLen]
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_GRO
		h.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(oob[unix.CmsgLen(0):], uint32(seg))
		r.b.hdrs[0].Hdr.SetControllen(unix.CmsgSpace(4))
		r.dispatch(1)
		st := m.Stats()
		segs := (len(d) + int(seg) - 1) / int(seg)
		total := uint64(handled) + st.ESPIn + st.ESPDropped + st.KeepalivesIn + st.Invalid
		if int(seg) > PayloadSize {
			if total != 0 || st.Overrun != 1 {
				t.Fatalf("a run of %d-octet segments: accounted %d times, overrun %d", seg, total, st.Overrun)
			}
			return
		}
		if total != uint64(segs) {
			t.Fatalf("%d segments accounted %d times (stats %+v, handled %d)", segs, total, st, handled)
		}
		var esp [][]byte
		for off := 0; off < len(d); off += int(seg) {
			if s := d[off:min(off+int(seg), len(d))]; isESP(s) {
				esp = append(esp, s)
			}
		}
		got := sink.packets()
		if len(got) != len(esp) {
			t.Fatalf("the sink got %d packets, want %d", len(got), len(esp))
		}
		for i := range got {
			if !bytes.Equal(got[i], esp[i]) {
				t.Fatalf("ESP packet %d differs", i)
			}
		}
	})
}
