package ike

import "time"

// InitLimits are the responder's defences against a flood of IKE_SA_INIT
// requests, beside the half-open threshold and limit of EngineConfig
// (initguard.go). Zero fields take the defaults named on each.
type InitLimits struct {
	// LateCookieCheck parses a request in full before looking for its
	// cookie, as the engine did before the early check: for measuring
	// what the early check is worth, never for production.
	LateCookieCheck bool
	// SourceRate is how many cookie demands per second one source (an
	// IPv4 address or IPv6 /64) gets while cookies are demanded, with
	// bursts of SourceBurst; requests beyond it are dropped unanswered
	// (DropRateLimited). A legitimate initiator needs one demand per
	// attempt; a flood from one address gets no more than this many
	// answers, so it can neither use us as a reflector nor take our CPU.
	// Default 20 a second, after a burst of 100 (a NAT gateway's many
	// initiators starting at once); negative: no limit.
	SourceRate  float64
	SourceBurst int
	// SourceTable is how many sources the limiter tracks at once
	// (default 4096 slots, about 128 KiB); sources beyond it share
	// slots (sourcelimit.go says why that never crowds a legitimate one
	// out).
	SourceTable int
	// BusyHalfOpenTimeout is how long a half-open SA may stay while
	// cookie mode is on (halfopen_busy.go); 0 or negative: HalfOpenTimeout
	// always, as before it existed. oemeshd sets 5 s
	// (ike.limits.busy_half_open_timeout).
	// A flood fills the half-open table to the cookie threshold with SAs
	// that will never authenticate; without this they would stay
	// HalfOpenTimeout (30 s), and cookies stay demanded of everyone that
	// long after the flood. A legitimate initiator sends IKE_AUTH at
	// once, a round trip after our answer.
	BusyHalfOpenTimeout time.Duration
}

func (l *InitLimits) setDefaults() {
	if l.SourceRate == 0 {
		l.SourceRate = 20
	}
	if l.SourceBurst <= 0 {
		l.SourceBurst = 100
	}
	if l.SourceTable <= 0 {
		l.SourceTable = 4096
	}
}
