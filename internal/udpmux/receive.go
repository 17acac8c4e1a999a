package udpmux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/udpgso"
	"github.com/oemesh/oemesh/kernel"
)

// reader reads one socket in batches and demultiplexes what it reads.
type reader struct {
	m    *Mux
	s    *socket
	h    Handler
	sink kernel.EncapSink
	rc   syscall.RawConn
	b    *batch

	esp       []kernel.EncapPacket // this batch's ESP for the sink
	delivered []int                // the slots whose buffers went with it
}

func (m *Mux) newReader(s *socket, h Handler, sink kernel.EncapSink) (*reader, error) {
	r := &reader{m: m, s: s, h: h, sink: sink}
	if s.conn != nil {
		rc, err := s.conn.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("udpmux: %s socket %s: %w", s.kind(), s.addr, err)
		}
		r.rc = rc
	}
	n := m.cfg.Batch
	if !s.natt {
		// Port 500 carries IKE only: Config.IKEBatch slots.
		n = max(1, m.cfg.IKEBatch)
	}
	if s.gro {
		n = min(n, groSlots)
	}
	r.b = newBatch(n, m.pool, s.gro)
	r.esp = make([]kernel.EncapPacket, 0, n)
	r.delivered = make([]int, 0, n)
	return r, nil
}

// loop reads until the socket is closed; it returns net.ErrClosed then,
// or the read error that stopped it.
func (r *reader) loop() error {
	defer func() {
		for _, b := range r.b.bufs {
			r.m.pool.put(b)
		}
	}()
	for {
		r.b.reset()
		if err := r.rc.Read(r.b.readFn); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return net.ErrClosed
			}
			return fmt.Errorf("udpmux: read on %s: %w", r.s.addr, err)
		}
		switch r.b.errno {
		case 0:
		case unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
			// ICMP errors surface on later reads of an unconnected
			// socket; they are not fatal.
			continue
		default:
			return fmt.Errorf("udpmux: read on %s: %w", r.s.addr, r.b.errno)
		}
		r.m.ctr.reads.Add(1)
		r.dispatch(r.b.n)
	}
}

// dispatch classifies the first n datagrams of the batch and hands them
// on: IKE to the handler (a copy, which it keeps), ESP to the sink (the
// slot's buffer, which it owns from then on: the slot gets a new one). A
// run the kernel coalesced (UDP_GRO) is cut back into its datagrams first
// (splitRun).
func (r *reader) dispatch(n int) {
	b, ctr := r.b, &r.m.ctr
	// Without GRO all slots share one overflow buffer: of the datagrams
	// that spilled into it, only the last is whole.
	lastSpill := -1
	for i := range n {
		if b.size(i) > PayloadSize {
			lastSpill = i
		}
	}
	r.esp, r.delivered = r.esp[:0], r.delivered[:0]
	for i := range n {
		size := b.size(i)
		local, remote := r.local(i), b.remote(i)
		if r.s.gro {
			if seg := udpgso.Segment(b.control(i)); seg > 0 && seg < size {
				r.splitRun(i, size, seg, local, remote)
				continue
			}
		}
		d := b.bufs[i][Headroom : Headroom+min(size, PayloadSize)]
		spilled := size > PayloadSize
		if spilled {
			if i != lastSpill && !b.perSlot {
				ctr.overrun.Add(1)
				r.m.log.Debug("udpmux: long datagram overwritten by a later one in the same batch", "local", local, "remote", remote, "len", size)
				continue
			}
			d = append(append(make([]byte, 0, size), d...), b.overflowOf(i)[:size-PayloadSize]...)
		}
		r.datagram(d, b.bufs[i], i, spilled, local, remote)
	}
	if len(r.esp) == 0 {
		return
	}
	ctr.espIn.Add(uint64(len(r.esp)))
	r.sink.DeliverEncap(r.esp, r.m.release)
	for _, i := range r.delivered {
		b.bufs[i] = r.m.pool.get()
	}
	clear(r.esp) // the sink's buffers are not ours to keep
}

// datagram classifies one datagram d and hands it on. buf is the pooled
// buffer d lies in at Headroom (unless spilled: then d is a copy): slot
// i's, or, for slot -1, one of its own that goes back to the pool unless
// the sink takes it.
func (r *reader) datagram(d, buf []byte, slot int, spilled bool, local, remote netip.AddrPort) {
	ctr := &r.m.ctr
	size := len(d)
	msg, kind := Classify(d, r.s.natt)
	switch kind {
	case KindIKE:
		ctr.ikeIn.Add(1)
		if !spilled {
			msg = append([]byte(nil), msg...)
		}
		r.h(msg, local, remote)
	case KindKeepalive:
		ctr.keepalives.Add(1)
	case KindESP:
		if r.sink == nil || spilled {
			ctr.espDropped.Add(1)
			r.m.log.Debug("udpmux: ESP-in-UDP dropped: no data plane takes it, or longer than a buffer", "local", local, "remote", remote, "len", size)
			break
		}
		r.esp = append(r.esp, kernel.EncapPacket{Buf: buf, Off: Headroom, Len: size, Local: local, Remote: remote})
		if slot >= 0 {
			r.delivered = append(r.delivered, slot)
		}
		return
	default:
		ctr.invalid.Add(1)
		r.m.log.Debug("udpmux: datagram is neither IKE, ESP nor keepalive", "socket", r.s.kind(), "local", local, "remote", remote, "len", size)
	}
	if slot < 0 {
		r.m.pool.put(buf)
	}
}

// local is the address datagram i arrived at: the socket's, or on a
// wildcard socket the destination that IP_PKTINFO gives.
func (r *reader) local(i int) netip.AddrPort {
	if r.s.wildcard {
		if dst, ok := pktinfoDst(r.b.control(i)); ok {
			return netip.AddrPortFrom(dst, r.s.addr.Port())
		}
	}
	return r.s.addr
}
