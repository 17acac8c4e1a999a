package udpmux

import (
	"fmt"
	"log/slog"
	"net/netip"
	"syscall"
)

// The well-known IKE ports (RFC 7296 §2, RFC 3948).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// Bypass says whether the sockets are exempt from XFRM policies.
type Bypass uint8

const (
	// NoBypass leaves the sockets under the host's IPsec policies.
	NoBypass Bypass = iota
	// BypassRequired exempts every socket (IP_XFRM_POLICY allow, both
	// directions), so that a trap or an SA covering a peer never swallows
	// our own IKE; failing to is an error. The XFRM data plane needs it.
	BypassRequired
	// BypassIfPermitted tries and, without CAP_NET_ADMIN, logs a warning
	// and goes on (the offline tools: an unprivileged probe on a host
	// without IPsec policies needs no bypass).
	BypassIfPermitted
)

// Config says where a Mux listens and how its sockets are set up.
type Config struct {
	// Addrs are the local addresses to listen on, one socket pair each. An
	// unspecified address (0.0.0.0 or ::) listens on the whole family and
	// learns each datagram's destination address from IP_PKTINFO, so
	// replies leave from the address the peer talked to. Empty means both
	// 0.0.0.0 and ::.
	Addrs []netip.Addr
	// Port is the IKE port (normally IKEPort). 0 lets the kernel choose,
	// which tests and the probe's initiator side use.
	Port int
	// NATTPort is the NAT-T port (normally NATTPort): IKE behind the
	// non-ESP marker, NAT keepalives and ESP-in-UDP. 0 lets the kernel
	// choose; negative opens no NAT-T socket.
	NATTPort int
	// Mark, when non-zero, is set as SO_MARK on every socket, so that
	// policy routing can tell our IKE packets from trapped traffic.
	Mark uint32
	// Bypass exempts the sockets from XFRM policies.
	Bypass Bypass
	// KernelEncap sets UDP_ENCAP_ESPINUDP on the NAT-T sockets: the
	// kernel (XFRM) then takes ESP-in-UDP off them and decapsulates it
	// itself, and only IKE and keepalives reach the Mux.
	KernelEncap bool
	// Control, when set, runs on every socket before it is bound, after
	// the options above.
	Control func(network, address string, c syscall.RawConn) error
	// NoGSO sends every ESP-in-UDP packet of SendESPBatch in a message of
	// its own, even where the kernel has UDP GSO (the userspace data
	// plane's offloads turned off).
	NoGSO bool
	// GRO reads the NAT-T sockets with UDP_GRO where the kernel has it
	// (not with KernelEncap): a run of one peer's datagrams arrives as
	// one, and the reader cuts it back into datagrams (gro.go). Each read
	// slot then has an overflow buffer of its own, so a NAT-T socket
	// takes at most groSlots slots per read (about 56 KiB each).
	GRO bool
	// Batch is how many datagrams one read takes (default 32).
	Batch int
	// IKEBatch is how many datagrams one read of the IKE port (Port,
	// which carries IKE only) takes; default 1, a datagram now and then,
	// which keeps the socket's memory what one read buffer is. A
	// responder that must keep up with an IKE_SA_INIT flood reads more
	// at once (oemeshd's ike.limits.read_batch).
	IKEBatch int
	// PoolSize bounds the free receive buffers kept for reuse (default
	// 512, about 4.7 MiB); more are left to the garbage collector.
	PoolSize int
	// Logger gets debug lines for dropped datagrams; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Addrs) == 0 {
		c.Addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	if c.Port < 0 || c.Port > 65535 || c.NATTPort > 65535 {
		return c, fmt.Errorf("udpmux: ports %d/%d out of range", c.Port, c.NATTPort)
	}
	for _, a := range c.Addrs {
		if !a.IsValid() {
			return c, fmt.Errorf("udpmux: invalid listen address")
		}
	}
	if c.Batch < 0 || c.IKEBatch < 0 || c.PoolSize < 0 {
		return c, fmt.Errorf("udpmux: Batch %d, IKEBatch %d and PoolSize %d must not be negative", c.Batch, c.IKEBatch, c.PoolSize)
	}
	if c.IKEBatch == 0 {
		c.IKEBatch = 1
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	if c.PoolSize == 0 {
		c.PoolSize = 512
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
