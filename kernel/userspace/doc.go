// Package userspace is the ESP data plane in Go over a TUN device, for hosts
// whose kernel cannot do ESP (no esp4/esp6 modules, minimal cloud and
// container kernels). It implements kernel.Dataplane like kernel/xfrm does.
//
// Traffic is trapped by routing: prefixes that need opportunistic encryption
// are routed into a TUN device through a routing table of our own, selected
// by an ip rule that skips packets carrying our fwmark. The daemon's own
// sockets (raw ESP, ESP-in-UDP, IKE, DNS) carry that fwmark, so they bypass
// the trap. Packets read from the TUN device are sealed with an SA (RFC 4303,
// AES-GCM per RFC 4106, ChaCha20-Poly1305 per RFC 7634, ESN, transport and
// tunnel mode) and sent on a raw IPPROTO_ESP socket or as ESP-in-UDP (RFC
// 3948); while an SA is negotiated they are held per flow and released when
// the SA is installed, so the first packet of a flow is not lost. Inbound ESP
// is opened, replay-checked, checked against the SA's traffic selectors and
// written to the TUN device; anything that fails is dropped and counted.
// A pair with client address translation (kernel.CAT, cat.go) carries the
// host's own packets under the address the peer leased it.
//
// An idle peer stays small: each SA direction keeps its keys and builds its
// AEAD state when a packet needs it, and lets it go after
// Config.CipherIdle without one (esp.go, expire.go); the replay window's
// bitmap is allocated by the first inbound packet, the drop counters by the
// first drop.
//
// The NAT-T port is shared with IKE (RFC 3948 §2.2). The device can own it
// (Config.NonESP hands IKE to the daemon), or, as oemeshd does, leave it
// to the daemon's UDP mux: Config.EncapSend then sends the device's
// ESP-in-UDP through the mux's socket, and the device, a
// kernel.EncapSink, takes the mux's receive buffers in batches
// (DeliverEncap, inject.go), opens each packet in the buffer it arrived in
// and gives the buffer back once the packet is on the TUN device, so the
// daemon wires the two without either package importing the other.
//
// While no data plane runs, a second routing table, the guard (guard.go),
// keeps private and block prefixes blackholed: it outlives a crash, stays
// after Close with FailClosed, and a restart takes it over without a gap.
// With Config.GuardNegotiating it also blackholes each destination while a
// flow to it is held for a negotiation (guardheld.go), so a crash in the
// middle of one sends nothing in clear.
//
// Packets move in batches (send.go, receive.go, gso.go): the TUN device,
// opened with the virtio-net header, hands over TSO super-packets already
// split and takes coalesced (GRO) writes, the head of each run of one flow
// moved into a 64 KiB buffer first so that up to 64 KiB coalesce
// (tungro.go); sealing and opening run on one
// worker per core while one goroutine per direction keeps the read order,
// and the in-order writer alone moves the replay window; raw ESP goes out
// and in with sendmmsg and recvmmsg, ESP-in-UDP with UDP GSO (a run of one
// SA's packets as one message, the packets its iovecs) and UDP GRO.
// Config.NoOffloads turns the offloads off; Stats says what is in use.
//
// The layout follows wireguard-go's device/: small files named for what they
// hold (tun.go, route.go, routesock.go, saroute.go, guard.go, guardheld.go,
// hold.go, esp.go, replay.go, sa.go, cat.go, send.go, receive.go, gso.go,
// tungro.go, checksum.go, counters.go, pools.go, tables.go, snapshot.go), a
// fast path
// that never takes the control-plane lock (it reads an immutable snapshot
// of the tables, which each change copies only in part), and buffers
// reused from pools.
//
// It imports kernel (the interface it implements) and nothing else of
// oemesh; it must never import ike, dnskey, policygroups or oe.
package userspace
