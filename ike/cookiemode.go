package ike

import (
	"sync"
	"time"
)

// CookieModeHold is how long cookie mode stays on after the last cookie
// the responder demanded. The half-open count that decides whether a
// cookie is demanded (EngineConfig.HalfOpenCookieThreshold) moves up and
// down by one SA at a time under a flood; without a hold, the mode (and
// its log lines) would flap with every SA that times out or completes.
const CookieModeHold = 5 * time.Second

// cookieMode says whether the responder is demanding cookies (RFC 7296
// §2.6), for Stats and for the log: it turns on at the first cookie
// demanded and off once none has been demanded for CookieModeHold. It
// only reports; whether a request needs a cookie is decided by
// handleInitRequest from the half-open count, as before.
type cookieMode struct {
	mu       sync.Mutex
	on       bool
	since    time.Time // when it turned on
	last     time.Time // the last cookie demanded
	demanded uint64    // cookies demanded since it turned on
	timer    *schedTimer
	reaping  bool // the busy reaper runs (halfopen_busy.go)
}

// cookieDemanded records a cookie demanded with nHalf half-open SAs, and
// turns cookie mode on (with a log line) if it was off.
func (e *Engine) cookieDemanded(nHalf int) {
	m := &e.cookieMode
	now := e.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = now
	m.demanded++
	if m.on {
		return
	}
	m.on, m.since, m.demanded = true, now, 1
	e.log.Info("ike: cookie mode on: IKE_SA_INIT requests need a cookie", "half_open", nHalf,
		"threshold", e.cfg.HalfOpenCookieThreshold, "hold", CookieModeHold)
	m.timer = e.sched.AfterFunc(CookieModeHold, e.cookieModeCheck)
	if !m.reaping {
		m.reaping = e.startBusyReaper()
	}
}

// cookieModeCheck turns cookie mode off (with a log line) when no cookie
// was demanded for CookieModeHold, and otherwise looks again when that
// much time will have passed since the last one.
func (e *Engine) cookieModeCheck() {
	m := &e.cookieMode
	now := e.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on {
		return
	}
	if wait := m.last.Add(CookieModeHold).Sub(now); wait > 0 {
		m.timer = e.sched.AfterFunc(wait, e.cookieModeCheck)
		return
	}
	m.on, m.timer = false, nil
	e.log.Info("ike: cookie mode off: no cookie demanded for the hold time", "lasted", now.Sub(m.since).Round(time.Millisecond),
		"cookies_demanded", m.demanded, "hold", CookieModeHold)
}

// cookieModeOn reports whether cookie mode is on.
func (e *Engine) cookieModeOn() bool {
	e.cookieMode.mu.Lock()
	defer e.cookieMode.mu.Unlock()
	return e.cookieMode.on
}

// stopCookieMode stops the pending check (Close stops all timers); the
// mode itself stays as it was, for the last Stats.
func (e *Engine) stopCookieMode() {
	e.cookieMode.mu.Lock()
	defer e.cookieMode.mu.Unlock()
	if e.cookieMode.timer != nil {
		e.cookieMode.timer.Stop()
		e.cookieMode.timer = nil
	}
}
