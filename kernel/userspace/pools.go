package userspace

import "sync"

// Buffer layout. Every packet buffer has bufHeadroom bytes before the
// packet, room for the ESP header in front of a payload (sealing), for an
// inner IP header in front of a decrypted transport-mode payload (opening),
// and for the virtio-net header the TUN device writes in front of each
// packet. After the packet there is room for the ESP trailer and ICV.
const (
	bufHeadroom = 96
	maxMTU      = 9000
	bufSize     = bufHeadroom + maxMTU + 128
	tunOffset   = 16 // ≥ the 10-byte virtio-net header of the TUN device

	socketBatch = 64 // messages per recvmmsg/sendmmsg
)

// packetBuf is one pooled buffer.
type packetBuf [bufSize]byte

// pools holds the buffer pool. Buffers move between batches, hold queues
// and the pool; each has exactly one owner at a time.
type pools struct {
	bufs sync.Pool
}

func newPools() *pools {
	p := &pools{}
	p.bufs.New = func() any { return new(packetBuf) }
	return p
}

func (p *pools) get() *packetBuf  { return p.bufs.Get().(*packetBuf) }
func (p *pools) put(b *packetBuf) { p.bufs.Put(b) }
