package userspace

import (
	"net"
	"sync"

	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/kernel"
)

// injectReader stands in for a UDP socket when another socket (the IKE
// daemon's NAT-T socket, internal/udpmux) receives ESP-in-UDP:
// DeliverEncap queues the packets in the buffers they arrived in, and the
// receive loop reads them in batches as from a socket, copying each into
// its own batch buffer and giving the socket's buffer back.
type injectReader struct {
	q         chan injected
	done      chan struct{}
	closeOnce sync.Once
}

// injected is one queued packet: pkt is the ESP packet in buf, which goes
// back through release once copied (or dropped).
type injected struct {
	buf, pkt []byte
	release  func([]byte)
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

// ReadBatch waits for one packet, then takes as many more as are queued
// and fit ms, copying each into its message's buffer as recvmmsg would
// and releasing the buffer it came in. The sender's address is not given:
// the SPI finds the SA, and NonESP does not apply. It returns
// net.ErrClosed once closed.
func (r *injectReader) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	if len(ms) == 0 {
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
		m := &ms[n]
		m.N = copy(m.Buffers[0], p.pkt)
		m.Addr = nil
		p.release(p.buf)
		n++
		if n == len(ms) {
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
// device keeps each buffer until its receive loop has read the packet,
// then gives it back with release; packets it cannot take (no EncapSend,
// too long, the data path behind) are released at once and counted. It
// implements kernel.EncapSink.
func (d *Device) DeliverEncap(pkts []kernel.EncapPacket, release func([]byte)) {
	for i := range pkts {
		p := &pkts[i]
		switch {
		case d.socks.inject == nil:
			d.drop(nil, dropNoSA, 1)
		case p.Len > bufSize-bufHeadroom:
			d.drop(nil, dropTooBig, 1)
		case d.socks.inject.put(injected{buf: p.Buf, pkt: p.Packet(), release: release}):
			continue
		default:
			d.drop(nil, dropInjectBacklog, 1)
		}
		release(p.Buf)
	}
}

var _ kernel.EncapSink = (*Device)(nil)
