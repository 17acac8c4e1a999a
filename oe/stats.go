package oe

import (
	"maps"
	"sync"
	"sync/atomic"
)

// counters are the orchestrator's metrics.
type counters struct {
	acquires, handshakes, dnsLookups, shunts, refused, tunnelsUp, idleDeletes atomic.Uint64

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
	Acquires    uint64            `json:"acquires"`
	Handshakes  uint64            `json:"handshakes"`
	DNSLookups  uint64            `json:"dns_lookups"`
	Shunts      uint64            `json:"shunts"`
	Refused     uint64            `json:"refused"`
	TunnelsUp   uint64            `json:"tunnels_up"`
	IdleDeletes uint64            `json:"idle_deletes"`
	Failures    map[string]uint64 `json:"failures"`
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
	}
}
