package kernel

import "net/netip"

// EncapPacket is one ESP-in-UDP datagram (RFC 3948) that arrived on a
// socket the data plane does not own: the IKE daemon's NAT-T socket,
// which shares port 4500 with IKE.
type EncapPacket struct {
	// Buf is the whole receive buffer. The ESP packet (the UDP payload,
	// starting with the SPI) is Buf[Off:Off+Len]; the Off octets before it
	// are free, so that a data plane can rebuild headers in place.
	Buf      []byte
	Off, Len int
	// Local is where the datagram arrived, Remote whom it came from.
	Local, Remote netip.AddrPort
}

// Packet returns the ESP packet: Buf[Off:Off+Len].
func (p *EncapPacket) Packet() []byte { return p.Buf[p.Off : p.Off+p.Len] }

// EncapSink takes inbound ESP-in-UDP from the socket that receives it, in
// batches and without a copy. A data plane that shares the NAT-T socket
// with IKE implements it.
type EncapSink interface {
	// DeliverEncap takes ownership of the buffer of every packet in pkts:
	// the sink keeps each as long as it needs and then gives it back by
	// calling release(pkt.Buf) exactly once, from any goroutine (also for
	// a packet it drops). After release the buffer is the caller's again
	// and may be overwritten at once. (A sink that is shutting down may
	// leave buffers to the garbage collector instead: the caller must not
	// count on getting every one back.) The slice pkts itself is only
	// valid during the call. DeliverEncap must not block on the network:
	// the socket's reader waits for it.
	DeliverEncap(pkts []EncapPacket, release func(buf []byte))
}
