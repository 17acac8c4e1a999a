package userspace

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
)

// injectReader stands in for a UDP socket when another socket (the IKE
// daemon's NAT-T socket) receives ESP-in-UDP: InjectEncap queues packets
// and the receive loop reads them in batches as from a socket.
type injectReader struct {
	q         chan []byte
	done      chan struct{}
	closeOnce sync.Once
}

func newInjectReader(n int) *injectReader {
	return &injectReader{q: make(chan []byte, n), done: make(chan struct{})}
}

func (r *injectReader) close() { r.closeOnce.Do(func() { close(r.done) }) }

// put queues a packet; false when the queue is full or closed.
func (r *injectReader) put(p []byte) bool {
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
// and fit ms, copying each into its message's buffer as recvmmsg would.
// The sender's address is not given (it would cost an allocation per
// packet): the SPI finds the SA, and NonESP does not apply. It returns
// net.ErrClosed once closed.
func (r *injectReader) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	var p []byte
	select {
	case <-r.done:
		return 0, net.ErrClosed
	case p = <-r.q:
	}
	n := 0
	for {
		m := &ms[n]
		m.N = copy(m.Buffers[0], p)
		m.Addr = nil
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

// InjectEncap hands the device one ESP-in-UDP packet (the UDP payload,
// starting with the SPI) that arrived on a socket it does not own
// (Config.EncapSend): the IKE transport's NAT-T socket gives it what is
// not IKE. local is where it arrived, remote whom from. The device keeps
// pkt. Without EncapSend, or when the data path is behind, the packet is
// dropped and counted.
func (d *Device) InjectEncap(pkt []byte, local, remote netip.AddrPort) {
	_, _ = local, remote // the SPI finds the SA, which knows both ends
	if d.socks.inject == nil {
		d.drop(nil, dropNoSA, 1)
		return
	}
	if len(pkt) > bufSize-bufHeadroom {
		d.drop(nil, dropTooBig, 1)
		return
	}
	if !d.socks.inject.put(pkt) {
		d.drop(nil, dropInjectBacklog, 1)
	}
}
