package udpmux

import "sync/atomic"

// Buffer layout. Every receive buffer is BufferSize octets: Headroom free
// octets, then the datagram. The headroom lets a data plane that takes an
// ESP packet rebuild an inner IP header (and a TUN device's virtio-net
// header) in front of the decrypted payload without a copy. A datagram
// longer than PayloadSize (only IKE can be: ESP-in-UDP is bounded by the
// MTU) spills into the socket's overflow buffer and is copied out.
const (
	Headroom    = 128
	PayloadSize = 9216
	BufferSize  = Headroom + PayloadSize
	maxDatagram = 65535
)

// pool is a bounded free list of receive buffers. A channel, not a
// sync.Pool: putting a slice in a sync.Pool allocates, and a free list
// lets tests see that buffers come back. When it is empty get allocates;
// when it is full put leaves the buffer to the garbage collector.
type pool struct {
	free      chan []byte
	allocated atomic.Uint64
}

func newPool(size int) *pool { return &pool{free: make(chan []byte, size)} }

func (p *pool) get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		p.allocated.Add(1)
		return make([]byte, BufferSize)
	}
}

// put takes back a buffer from get; anything else is ignored.
func (p *pool) put(b []byte) {
	if cap(b) != BufferSize {
		return
	}
	select {
	case p.free <- b[:BufferSize]:
	default:
	}
}
