package userspace

import (
	"net"
	"sync"

	"github.com/oemesh/oemesh/kernel"
)

// injectReader stands in for a UDP socket when another socket (the IKE
// daemon's NAT-T socket, internal/udpmux) receives ESP-in-UDP:
// DeliverEncap queues the packets in the buffers they arrived in, and the
// receive loop takes them in batches as from a socket. A buffer laid out
// as a packetBuf around the packet (headroom before it, room for a whole
// packetBuf after) is lent to the batch element, not copied: the element
// opens the packet in it and writes it to the TUN device from it, and
// putIn gives it back. Any other buffer is copied and given back at once.
type injectReader struct {
	q         chan injected
	done      chan struct{}
	closeOnce sync.Once
}

// injected is one queued packet: the ESP packet is buf[off:off+n]; buf
// goes back through release once the device is done with it.
type injected struct {
	buf     []byte
	off, n  int
	release func([]byte)
}

// lent is a buffer an inElem borrowed: buf views it while own waits.
type lent struct {
	ext     []byte
	own     *packetBuf
	release func([]byte)
}

// borrow makes e's buffer a view of p's, with the packet at bufHeadroom,
// if p's buffer has room for that; false leaves e as it was.
func (e *inElem) borrow(p *injected) bool {
	start := p.off - bufHeadroom
	if start < 0 || len(p.buf)-start < bufSize {
		return false
	}
	e.lent = lent{ext: p.buf, own: e.buf, release: p.release}
	e.buf = (*packetBuf)(p.buf[start : start+bufSize])
	return true
}

// giveBack returns a borrowed buffer to its owner and restores e's own.
func (e *inElem) giveBack() {
	if e.lent.ext == nil {
		return
	}
	e.lent.release(e.lent.ext)
	e.buf = e.lent.own
	e.lent = lent{}
}

func newInjectReader(n int) *injectReader {
	return &injectReader{q: make(chan injected, n), done: make(chan struct{})}
}

// close stops reads; what is still queued goes back to its owner.
func (r *injectReader) close() {
	r.closeOnce.Do(func() {
		close(r.done)
		for {
			select {
			case p := <-r.q:
				p.release(p.buf)
			default:
				return
			}
		}
	})
}

// put queues a packet; false when the queue is full or closed.
func (r *injectReader) put(p injected) bool {
	select {
	case <-r.done:
		return false
	default:
	}
	select {
	case r.q <- p:
		return true
	default:
		return false
	}
}

// readBatch waits for one packet, then takes as many more as are queued
// and fit b, each at bufHeadroom in its element's buffer as recvmmsg
// would put it: lent (see injectReader) or copied. The sender's address
// is not given: the SPI finds the SA, and NonESP does not apply. It
// returns net.ErrClosed once closed.
func (r *injectReader) readBatch(b *inBatch) (int, error) {
	if len(b.elems) == 0 {
		return 0, nil
	}
	var p injected
	select {
	case <-r.done:
		return 0, net.ErrClosed
	case p = <-r.q:
	}
	n := 0
	for {
		e, m := &b.elems[n], &b.msgs[n]
		m.N, m.Addr = p.n, nil
		if !e.borrow(&p) {
			copy(e.buf[bufHeadroom:], p.buf[p.off:p.off+p.n])
			p.release(p.buf)
		}
		n++
		if n == len(b.elems) {
			return n, nil
		}
		select {
		case p = <-r.q:
		default:
			return n, nil
		}
	}
}

// DeliverEncap takes ESP-in-UDP packets (each the UDP payload, starting
// with the SPI) that arrived on a socket the device does not own
// (Config.EncapSend): the IKE daemon's mux gives it what is not IKE. The
// device keeps each buffer until it has opened the packet in it and
// written it to the TUN device, then gives it back with release; packets
// it cannot take (no EncapSend, too long, the data path behind) are
// released at once and counted. It implements kernel.EncapSink.
func (d *Device) DeliverEncap(pkts []kernel.EncapPacket, release func([]byte)) {
	for i := range pkts {
		p := &pkts[i]
		switch {
		case d.socks.inject == nil:
			d.drop(nil, dropNoSA, 1)
		case p.Len > bufSize-bufHeadroom:
			d.drop(nil, dropTooBig, 1)
		case d.socks.inject.put(injected{buf: p.Buf, off: p.Off, n: p.Len, release: release}):
			continue
		default:
			d.drop(nil, dropInjectBacklog, 1)
		}
		release(p.Buf)
	}
}

var _ kernel.EncapSink = (*Device)(nil)
