package stub

import "sync/atomic"

// Stats are the stub's counters since it started.
type Stats struct {
	// Queries is every query received from applications.
	Queries uint64
	// Forwarded is the queries an upstream answered (any rcode); the
	// answer went back to the application unchanged.
	Forwarded uint64
	// ServFail is the queries no upstream answered: the application got
	// SERVFAIL.
	ServFail uint64
	// Lookups is the key look-ups started at forward names.
	Lookups uint64
	// LookupsFailed is the look-ups that found no usable key (no record,
	// an unsigned one under dns.require_dnssec, or a DNS failure).
	LookupsFailed uint64
	// Dropped is the answers whose look-up was not started because too
	// many were pending.
	Dropped uint64
	// Bindings is the bindings recorded (one per look-up that found keys).
	Bindings uint64
	// BindFailed is the bindings the binding store refused.
	BindFailed uint64
	// Prestarts is the negotiations started ahead of the first packet.
	Prestarts uint64
	// EarlyLookups is the key look-ups started when the query arrived
	// (Config.EarlyLookup); they count in Lookups too.
	EarlyLookups uint64
	// EarlyWasted is the early look-ups whose answer gave no address in
	// an OE group (or no address at all, or no answer): the price of
	// starting them before the answer.
	EarlyWasted uint64
	// EarlySkipped is the queries whose early look-up was not started
	// because too many were under way (the look-up then runs after the
	// answer, as without Config.EarlyLookup).
	EarlySkipped uint64
	// Held is the answers held for their negotiations (Config.Hold).
	Held uint64
	// HoldTimeouts is the held answers released because the hold's bound
	// passed before the negotiations were over.
	HoldTimeouts uint64
}

type counters struct {
	queries, forwarded, servfail    atomic.Uint64
	lookups, lookupsFailed, dropped atomic.Uint64
	bindings, bindFailed, prestarts atomic.Uint64
	earlyLookups, earlyWasted       atomic.Uint64
	earlySkipped                    atomic.Uint64
	held, holdTimeouts              atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Queries: c.queries.Load(), Forwarded: c.forwarded.Load(), ServFail: c.servfail.Load(),
		Lookups: c.lookups.Load(), LookupsFailed: c.lookupsFailed.Load(), Dropped: c.dropped.Load(),
		Bindings: c.bindings.Load(), BindFailed: c.bindFailed.Load(), Prestarts: c.prestarts.Load(),
		EarlyLookups: c.earlyLookups.Load(), EarlyWasted: c.earlyWasted.Load(), EarlySkipped: c.earlySkipped.Load(),
		Held: c.held.Load(), HoldTimeouts: c.holdTimeouts.Load(),
	}
}
