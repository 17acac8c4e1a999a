package ike

import (
	"fmt"
	"time"
)

// busyReapEvery is how often the busy reaper looks at the half-open SAs
// while cookie mode is on: an SA goes between BusyHalfOpenTimeout and that
// plus busyReapEvery after its IKE_SA_INIT.
const busyReapEvery = time.Second

// startBusyReaper starts reaping half-open SAs older than
// InitLimits.BusyHalfOpenTimeout for as long as cookie mode is on (it
// just turned on), and after it until the SAs of its last moments have
// gone too. A flood fills the half-open table to the cookie
// threshold with SAs that will never authenticate; without the reaper
// they would stay HalfOpenTimeout (30 s), and cookies stay demanded of
// everyone that long after the flood ends. A legitimate initiator sends
// IKE_AUTH at once, a round trip after our answer, and an SA that
// authenticated is no longer half open.
// It reports whether it started; called with cookieMode.mu held.
func (e *Engine) startBusyReaper() bool {
	if e.cfg.InitLimits.BusyHalfOpenTimeout <= 0 || e.cfg.InitLimits.BusyHalfOpenTimeout >= e.cfg.HalfOpenTimeout {
		return false
	}
	e.sched.AfterFunc(busyReapEvery, e.reapBusyHalfOpen)
	return true
}

// reapBusyHalfOpen ends the half-open SAs idle for BusyHalfOpenTimeout,
// and looks again busyReapEvery later while cookie mode is still on.
func (e *Engine) reapBusyHalfOpen() {
	limit := e.cfg.InitLimits.BusyHalfOpenTimeout
	now := e.cfg.Clock.Now()
	m := &e.cookieMode
	m.mu.Lock()
	// Until the SAs made just before the last cookie demand are old
	// enough to go: cookie mode itself ends CookieModeHold after it.
	busy := m.on || now.Sub(m.last) < CookieModeHold+limit
	m.reaping = busy
	m.mu.Unlock()
	if !busy {
		return
	}
	e.mu.Lock()
	half := make([]*ikeSA, 0, e.nHalf)
	for _, sa := range e.halfOpen {
		half = append(half, sa)
	}
	e.mu.Unlock()
	reaped := 0
	for _, sa := range half {
		sa.lock()
		if idle := now.Sub(e.timeOf(sa.lastRecv)); sa.state == stHalfOpen && idle >= limit {
			sa.die(fmt.Errorf("ike: half-open SA with %v reaped after %v in cookie mode", sa.remote, idle.Round(time.Millisecond)), false)
			reaped++
		}
		sa.unlock()
	}
	if reaped > 0 {
		e.log.Debug("ike: cookie mode: half-open SAs reaped", "count", reaped, "after", limit)
	}
	e.sched.AfterFunc(busyReapEvery, e.reapBusyHalfOpen)
}
