package ike

import (
	"log/slog"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/logtest"
)

// TestCookieMode: cookie mode turns on at the first cookie demanded, with
// one log line, stays on while cookies keep being demanded less than
// CookieModeHold apart, and turns off, with one log line, CookieModeHold
// after the last; verified cookies are counted.
func TestCookieMode(t *testing.T) {
	var logs logtest.Buffer
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		if c.Sender.(*memSender).self == addrB {
			c.HalfOpenCookieThreshold = -1
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
	})
	if st := b.e.Stats(); st.CookieMode {
		t.Fatal("cookie mode on before any request")
	}
	for i := range 3 {
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatalf("negotiation %d: %v", i, err)
		}
		st := b.e.Stats()
		if !st.CookieMode || st.CookiesSent != uint64(i+1) || st.CookiesVerified != uint64(i+1) {
			t.Errorf("after negotiation %d: cookie mode %v, demanded %d, verified %d; want on, %d, %d",
				i, st.CookieMode, st.CookiesSent, st.CookiesVerified, i+1, i+1)
		}
		// Less than the hold between demands: no flapping.
		n.advance(CookieModeHold - time.Second)
	}
	if on, off := logs.Count("cookie mode on"), logs.Count("cookie mode off"); on != 1 || off != 0 {
		t.Errorf("while demanding: %d on and %d off lines, want 1 and 0:\n%s", on, off, logs.String())
	}
	if !b.e.Stats().CookieMode {
		t.Error("cookie mode off less than the hold after the last cookie")
	}
	n.advance(time.Second + time.Millisecond)
	if b.e.Stats().CookieMode {
		t.Error("cookie mode still on the hold after the last cookie")
	}
	if on, off := logs.Count("cookie mode on"), logs.Count("cookie mode off"); on != 1 || off != 1 {
		t.Errorf("after the hold: %d on and %d off lines, want 1 and 1:\n%s", on, off, logs.String())
	}
	if st := a.e.Stats(); st.CookieMode || st.CookiesSent != 0 {
		t.Errorf("initiator: cookie mode %v, %d cookies demanded", st.CookieMode, st.CookiesSent)
	}
}

// TestCookieModeBadCookie: a cookie that does not verify is dropped as
// bad_cookie and not counted as verified.
func TestCookieModeBadCookie(t *testing.T) {
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.HalfOpenCookieThreshold = -1 })
	// Rotating B's secret twice between the demand and the retry makes
	// the cookie A returns stale.
	n.filter = func(p *memPacket) int {
		if p.seq == 1 {
			b.e.cookies.mu.Lock()
			b.e.cookies.current = nil
			b.e.cookies.previous = nil
			b.e.cookies.version += 2
			b.e.cookies.mu.Unlock()
		}
		return 1
	}
	_, _ = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	st := b.e.Stats()
	if st.Drops[DropBadCookie] == 0 {
		t.Errorf("no bad_cookie drop: %+v", st)
	}
	if st.CookiesVerified >= st.CookiesSent {
		t.Errorf("verified %d of %d cookies demanded, with one stale", st.CookiesVerified, st.CookiesSent)
	}
}
