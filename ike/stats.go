package ike

import (
	"log/slog"
	"maps"
	"net/netip"
	"sync"
)

//go:generate go tool stringer -type=DropReason -linecomment

// DropReason says why a received datagram was dropped.
type DropReason uint8

// Drop reasons, each counted in Stats. The line comments are the names
// String gives (go generate, stringer).
const (
	// DropMalformed: bad length, version or payload syntax.
	DropMalformed DropReason = iota // malformed
	// DropUnknownSPI: no IKE SA with this SPI.
	DropUnknownSPI // unknown_spi
	// DropIntegrity: SK/SKF integrity check failed (bad ICV).
	DropIntegrity // integrity
	// DropOldMessageID: replayed or out-of-window message ID.
	DropOldMessageID // old_message_id
	// DropUnexpectedExchange: exchange not valid in this state.
	DropUnexpectedExchange // unexpected_exchange
	// DropUnexpectedResponse: response to no outstanding request.
	DropUnexpectedResponse // unexpected_response
	// DropHalfOpenLimit: too many half-open SAs.
	DropHalfOpenLimit // half_open_limit
	// DropBadCookie: missing or wrong cookie under load.
	DropBadCookie // bad_cookie
	// DropClosed: engine closed.
	DropClosed // closed
	// DropInvalid: well-formed but unusable (bad KE, missing payloads).
	DropInvalid // invalid
	// DropBusy: retransmitted request still being worked on (key lookup).
	DropBusy // busy
	// DropRateLimited: an IKE_SA_INIT request from a source that had its
	// share of cookie demands (InitLimits.SourceRate).
	DropRateLimited // rate_limited
	// DropOverloaded: a request that found the work queue full (Intake).
	DropOverloaded // overloaded
)

// numDropReasons sizes the counters; an int, not a DropReason, so that
// stringer leaves it out.
const numDropReasons = int(DropOverloaded) + 1

// Stats are the engine's counters.
type Stats struct {
	Received, Sent, Retransmits uint64
	RetransmittedResponses      uint64 // cached responses resent
	CookiesSent                 uint64
	// CookiesVerified counts IKE_SA_INIT requests that came back with a
	// cookie we demanded and that verified.
	CookiesVerified uint64
	// CookieMode is on while cookies are being demanded (it turns off
	// CookieModeHold after the last one).
	CookieMode                   bool
	IKEEstablished, IKEDeleted   uint64
	ChildInstalled, ChildDeleted uint64
	HalfOpen, IKESAs             int
	// NullSAs counts the IKE SAs of peers that authenticated with NULL
	// now, as NullLimits counts them; NullEvictions those deleted for a
	// new one over a cap, NullRefusals the new ones refused over a cap
	// with none idle enough to evict.
	NullSAs                     int
	NullEvictions, NullRefusals uint64
	Drops                       map[DropReason]uint64
	// CertFailures counts the peer certificate chains the CertVerifier
	// refused, by the label its error gives (CertFailureLabeler), at most
	// maxCertFailureLabels of them and CertFailureOther.
	CertFailures map[string]uint64
}

type stats struct {
	mu                                 sync.Mutex
	received, sent, retransmits        uint64
	respResent, cookiesSent            uint64
	cookiesVerified                    uint64
	ikeUp, ikeDown, childUp, childDown uint64
	drops                              [numDropReasons]uint64
	certFailures                       map[string]uint64
}

func (s *stats) add(p *uint64) {
	s.mu.Lock()
	*p++
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.stats.mu.Lock()
	st := Stats{
		Received: e.stats.received, Sent: e.stats.sent, Retransmits: e.stats.retransmits,
		RetransmittedResponses: e.stats.respResent, CookiesSent: e.stats.cookiesSent,
		CookiesVerified: e.stats.cookiesVerified,
		IKEEstablished:  e.stats.ikeUp, IKEDeleted: e.stats.ikeDown,
		ChildInstalled: e.stats.childUp, ChildDeleted: e.stats.childDown,
		Drops: make(map[DropReason]uint64), CertFailures: maps.Clone(e.stats.certFailures),
	}
	for i, n := range e.stats.drops {
		if n > 0 {
			st.Drops[DropReason(i)] = n
		}
	}
	e.stats.mu.Unlock()
	e.mu.Lock()
	st.HalfOpen, st.IKESAs = e.nHalf, len(e.sas)
	e.mu.Unlock()
	st.CookieMode = e.cookieModeOn()
	nc := e.null.counts()
	st.NullSAs, st.NullEvictions, st.NullRefusals = nc.sas, nc.evictions, nc.refusals
	return st
}

// drop counts and logs a dropped datagram.
func (e *Engine) drop(r DropReason, remote netip.AddrPort, err error, attrs ...any) {
	e.stats.mu.Lock()
	e.stats.drops[r]++
	e.stats.mu.Unlock()
	if e.log.Enabled(e.life, slog.LevelDebug) {
		args := append([]any{"reason", r.String(), "remote", remote}, attrs...)
		if err != nil {
			args = append(args, "err", err)
		}
		e.log.Debug("ike: drop", args...)
	}
}
