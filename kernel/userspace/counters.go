package userspace

import (
	"sync/atomic"
	"time"
)

//go:generate go tool stringer -type=dropReason -linecomment

// dropReason says why a packet was dropped. Every drop is counted on the
// device, and on the SA pair when one is known.
type dropReason uint8

// The line comments are the names String gives (go generate, stringer);
// the descriptions are above each.
const (
	dropNone dropReason = iota // none
	// Inbound ESP with an SPI we do not have.
	dropNoSA // no-sa
	// Shorter than an ESP header, IV, trailer and ICV.
	dropTruncated // truncated
	// ICV did not verify (bad key, corrupted, forged).
	dropAuth // auth
	// Sequence number seen before or left of the window.
	dropReplay // replay
	// Pad length larger than the decrypted payload.
	dropTrailer // trailer
	// Inner addresses outside the SA's traffic selectors.
	dropSelector // selector
	// An outer or inner IP header that does not parse.
	dropMalformed // malformed
	// Next header 59: a dummy (TFC) packet, dropped as RFC 4303 §2.6 says.
	dropDummy // dummy
	// The flow's hold queue (or all of them) is full.
	dropHoldFull // hold-full
	// Held too long with no SA and no shunt.
	dropHoldTimeout // hold-timeout
	// A drop shunt is set for the flow.
	dropShunt // shunt-drop
	// The destination is in a block group.
	dropBlock // block
	// Read from the TUN device but no trap covers it.
	dropNoTrap // no-trap
	// The SA reached its hard limit.
	dropSAExpired // sa-expired
	// The sequence number would wrap (RFC 4303 §3.3.3).
	dropSeqOverflow // seq-overflow
	// An IPv4/IPv6 fragment in transport mode (see send.go).
	dropFragment // transport-fragment
	// Larger than the buffers.
	dropTooBig // too-big
	// The socket refused the packet.
	dropSendError // send-error
	// The TUN device refused the packet.
	dropTUNWrite // tun-write
	// No room on the Acquires channel.
	dropAcquireBacklog // acquire-backlog
	// DeliverEncap: the data path is behind.
	dropInjectBacklog // inject-backlog
)

// numDropReasons sizes the counters; an int, not a dropReason, so that
// stringer leaves it out.
const numDropReasons = int(dropInjectBacklog) + 1

// dropCounters counts drops by reason without locks.
type dropCounters [numDropReasons]atomic.Uint64

func (c *dropCounters) add(r dropReason, n uint64) { c[r].Add(n) }

// snapshot returns the non-zero counters by reason name.
func (c *dropCounters) snapshot() map[string]uint64 {
	m := make(map[string]uint64)
	for i := range c {
		if v := c[i].Load(); v != 0 {
			m[dropReason(i).String()] = v
		}
	}
	return m
}

// trafficCounters are one SA's packets and bytes and its last use. Bytes
// are those of the inner packets, as the kernel's XFRM counts them.
type trafficCounters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	lastUse atomic.Int64 // unix nanoseconds; 0 = never
}

func (c *trafficCounters) add(packets, bytes uint64, now time.Time) {
	c.packets.Add(packets)
	c.bytes.Add(bytes)
	c.lastUse.Store(now.UnixNano())
}

func (c *trafficCounters) last() time.Time {
	n := c.lastUse.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Stats are the device-wide counters, for `oemesh traffic` and tests.
type Stats struct {
	Dropped     map[string]uint64 // by reason, all SAs and none
	HeldPackets int               // packets waiting for an SA now
	HeldFlows   int
	SAs         int // installed SA pairs
	// Ciphers counts SA directions whose AEAD state is in memory; the
	// others were idle for Config.CipherIdle and build it at their next
	// packet.
	Ciphers int
	// TUNBatch is how many packets one read from or write to the TUN
	// device carries at most (1 without offloads).
	TUNBatch int
	// Offloads is on when the TUN device has the virtio-net header: TSO
	// super-packets in, split before sealing; TCP and UDP coalesced (GRO)
	// on the way out to the kernel (Config.NoOffloads turns it off).
	Offloads bool
	// UDPGSO and UDPGRO say whether the device's own ESP-in-UDP sockets
	// send with UDP_SEGMENT and receive with UDP_GRO (gso.go); both off
	// with Config.NoOffloads, without the kernel's support, and when the
	// daemon's mux carries ESP-in-UDP (its status says what it does).
	UDPGSO, UDPGRO bool
}
