package userspace

import (
	"sync/atomic"
	"time"
)

// dropReason says why a packet was dropped. Every drop is counted on the
// device, and on the SA pair when one is known.
type dropReason uint8

const (
	dropNone           dropReason = iota
	dropNoSA                      // inbound ESP with an SPI we do not have
	dropTruncated                 // shorter than an ESP header, IV, trailer and ICV
	dropAuth                      // ICV did not verify (bad key, corrupted, forged)
	dropReplay                    // sequence number seen before or left of the window
	dropTrailer                   // pad length larger than the decrypted payload
	dropSelector                  // inner addresses outside the SA's traffic selectors
	dropMalformed                 // an outer or inner IP header that does not parse
	dropDummy                     // next header 59: a dummy (TFC) packet, dropped as RFC 4303 §2.6 says
	dropHoldFull                  // the flow's hold queue (or all of them) is full
	dropHoldTimeout               // held too long with no SA and no shunt
	dropShunt                     // a drop shunt is set for the flow
	dropBlock                     // the destination is in a block group
	dropNoTrap                    // read from the TUN device but no trap covers it
	dropSAExpired                 // the SA reached its hard limit
	dropSeqOverflow               // the sequence number would wrap (RFC 4303 §3.3.3)
	dropFragment                  // an IPv4/IPv6 fragment in transport mode (see send.go)
	dropTooBig                    // larger than the buffers
	dropSendError                 // the socket refused the packet
	dropTUNWrite                  // the TUN device refused the packet
	dropAcquireBacklog            // no room on the Acquires channel
	dropInjectBacklog             // DeliverEncap: the data path is behind
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropNone:           "none",
	dropNoSA:           "no-sa",
	dropTruncated:      "truncated",
	dropAuth:           "auth",
	dropReplay:         "replay",
	dropTrailer:        "trailer",
	dropSelector:       "selector",
	dropMalformed:      "malformed",
	dropDummy:          "dummy",
	dropHoldFull:       "hold-full",
	dropHoldTimeout:    "hold-timeout",
	dropShunt:          "shunt-drop",
	dropBlock:          "block",
	dropNoTrap:         "no-trap",
	dropSAExpired:      "sa-expired",
	dropSeqOverflow:    "seq-overflow",
	dropFragment:       "transport-fragment",
	dropTooBig:         "too-big",
	dropSendError:      "send-error",
	dropTUNWrite:       "tun-write",
	dropAcquireBacklog: "acquire-backlog",
	dropInjectBacklog:  "inject-backlog",
}

func (r dropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

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
}
