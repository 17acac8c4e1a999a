// Package udpmux owns the IKE daemon's UDP sockets: port 500 and the NAT-T
// port 4500, IPv4 and IPv6, on each local address it is given. It sets
// them up (SO_MARK, IP_PKTINFO on wildcard sockets, the per-socket XFRM
// policy bypass, UDP_ENCAP_ESPINUDP on the NAT-T socket when the kernel
// decapsulates ESP), reads them in batches (recvmmsg) into pooled buffers,
// and demultiplexes what arrives:
//
//   - IKE (on 500; on 4500 behind the 4-octet non-ESP marker, RFC 3948
//     §2.2, which it strips) goes to the IKE handler, normally
//     ike.Engine.HandlePacket, as a copy the handler keeps;
//   - ESP-in-UDP (on 4500, a non-zero SPI first) goes to the data plane's
//     kernel.EncapSink in the buffer it was read into: the sink owns the
//     buffer until it releases it back to the pool, so ESP is never
//     copied here (but for the second and later datagrams of a run the
//     kernel coalesced with UDP_GRO, Config.GRO: each is copied into a
//     pooled buffer of its own);
//   - NAT keepalives (the single octet 0xFF, RFC 3948 §2.3) are counted
//     and dropped.
//
// On send it adds the non-ESP marker to IKE leaving the NAT-T port, and
// sends ESP-in-UDP and keepalives as they are. Mux implements ike.Sender
// and ike.KeepaliveSender, and its SendESP and SendESPBatch are what a
// userspace data plane uses as userspace.Config.EncapSend and
// EncapSendBatch; SendESPBatch sends runs of equal-sized packets with UDP
// GSO (UDP_SEGMENT), one message whose iovecs are the packets.
//
// Files: config.go (Config), mux.go (Mux: Listen, SetESPSink, Serve,
// Close), socket.go (opening one socket), send.go, receive.go (the read
// loop and the demultiplexer), recvmmsg.go (the batch read and the parsing
// of addresses and control messages), gso.go (SendESPBatch, UDP GSO),
// gro.go (cutting UDP_GRO runs back into datagrams), classify.go (what a
// datagram is), pool.go (the buffer pool).
//
// It must never import ike or oe: IKE reaches it through a func and the
// data plane through kernel.EncapSink. It imports kernel/xfrm only for
// the two socket options of the kernel data plane.
package udpmux
