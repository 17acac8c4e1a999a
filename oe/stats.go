package oe

import (
	"maps"
	"sync"
	"sync/atomic"
)

// counters are the orchestrator's metrics.
type counters struct {
	acquires, handshakes, dnsLookups, shunts, refused, tunnelsUp, idleDeletes atomic.Uint64
	prefetches, prefetchesSkipped                                             atomic.Uint64

	mu       sync.Mutex
	failures map[string]uint64
}

func (c *counters) fail(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == nil {
		c.failures = map[string]uint64{}
	}
	c.failures[reason]++
}

// Stats is a snapshot of the counters.
type Stats struct {
	Acquires    uint64            // flows that hit a trap
	Handshakes  uint64            // negotiations that ended encrypted
	DNSLookups  uint64            // key look-ups in DNS
	Shunts      uint64            // shunts set
	Refused     uint64            // peers refused as responder
	TunnelsUp   uint64            // SA pairs installed
	IdleDeletes uint64            // SA pairs deleted for idleness
	Failures    map[string]uint64 // failed negotiations, by reason
	// Prefetches are the responder's key look-ups started at a peer's
	// IKE_SA_INIT (prefetch.go); PrefetchesSkipped those not started
	// because too many ran.
	Prefetches, PrefetchesSkipped uint64
}

// FailureClass names a failed negotiation for the failures counter, as OE
// counts its own: the configured conns (oe/conn) count theirs the same way.
func FailureClass(err error) string { return failureClass(err) }

// Stats returns the counters.
func (o *OE) Stats() Stats {
	c := &o.stats
	c.mu.Lock()
	f := maps.Clone(c.failures)
	c.mu.Unlock()
	return Stats{
		Acquires: c.acquires.Load(), Handshakes: c.handshakes.Load(), DNSLookups: c.dnsLookups.Load(),
		Shunts: c.shunts.Load(), Refused: c.refused.Load(), TunnelsUp: c.tunnelsUp.Load(),
		IdleDeletes: c.idleDeletes.Load(), Failures: f,
		Prefetches: c.prefetches.Load(), PrefetchesSkipped: c.prefetchesSkipped.Load(),
	}
}
