package ike

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestCookieDemandThenLateRetransmission: under load, A's IKE_SA_INIT is
// asked for a cookie; the load passes, and a retransmission of the
// request without the cookie reaches B before the request with it. B
// makes the SA from the retransmission, and A takes B's answer as the
// answer to the request with the cookie, the one it signs in IKE_AUTH.
// B must verify A's AUTH over the request with the cookie, whether that
// arrives while the SA is half open (then even once cookie mode has
// ended: adoptCookieRetry) or never (verifyInitiatorAuth, while cookie
// mode is on): before, it verified over
// the other one and answered an honest handshake with
// AUTHENTICATION_FAILED (TestHalfOpenUnderConcurrentLoad failed so
// under CPU load).
func TestCookieDemandThenLateRetransmission(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lost drops the request with the cookie: it never reaches B,
		// or A's IKE_AUTH overtakes it.
		lost bool
	}{{"the request with the cookie follows", false}, {"the request with the cookie is lost", true}} {
		t.Run(tc.name, func(t *testing.T) {
			n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.HalfOpenCookieThreshold = -1 })
			var late []memPacket
			n.filter = func(p *memPacket) int {
				if p.seq == 0 {
					late = append(late, *p) // A's first request, again later
				}
				if h, err := wire.ParseHeader(p.data); tc.lost && err == nil && h.Exchange == wire.IKESAInit && p.to.Addr() == addrB {
					if s, err := wire.ScanInit(p.data); err == nil && s.Cookie != nil {
						return 0
					}
				}
				return 1
			}
			in, sa, err := a.e.startInitiate(context.Background(), InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
			if err != nil {
				t.Fatal(err)
			}
			n.deliverOne() // the request → B, which demands a cookie
			n.deliverOne() // the demand → A, which sends the request with the cookie
			if st := b.e.Stats(); st.CookiesSent != 1 || st.HalfOpen != 0 {
				t.Fatalf("B: %d cookies demanded, %d half open; want 1, 0", st.CookiesSent, st.HalfOpen)
			}
			// The load has passed; the retransmission overtakes the
			// request with the cookie.
			b.e.cfg.HalfOpenCookieThreshold = 1000
			n.mu.Lock()
			n.queue = append(late, n.queue...)
			n.mu.Unlock()
			if !tc.lost {
				// Both requests reach B, then cookie mode ends before
				// A's IKE_AUTH does: B holds the right request already.
				n.deliverOne()
				n.deliverOne()
				n.clock.Advance(CookieModeHold + time.Second)
				if b.e.cookieModeOn() {
					t.Fatal("cookie mode still on")
				}
			}
			n.run(func() bool { return len(in.done) > 0 }, time.Minute)
			if _, err := sa.awaitInitiate(context.Background(), in); err != nil {
				t.Fatalf("the handshake failed: %v", err)
			}
			if len(a.established()) != 1 || len(b.established()) != 1 {
				t.Errorf("established: A %d, B %d IKE SAs; want 1 each", len(a.established()), len(b.established()))
			}
		})
	}
}

// TestCookieRetry: a request is recognised as another retried with a
// cookie only when the COOKIE notify is first and all else is unchanged.
func TestCookieRetry(t *testing.T) {
	spi := SPI{1, 2, 3, 4, 5, 6, 7, 8}
	msg := func(cookie []byte, nonce byte) []byte {
		var ps []wire.Payload
		if cookie != nil {
			ps = append(ps, &wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie})
		}
		ps = append(ps, &wire.Nonce{Data: bytes.Repeat([]byte{nonce}, 32)}, &wire.Notify{NotifyType: wire.NotifyFragmentationSupported})
		b, err := (&wire.Message{Header: wire.Header{SPIi: spi, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: ps}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	init := msg(nil, 1)
	cookie := []byte("0123456789abcdef!")
	if c, ok := wire.CookieRetry(msg(cookie, 1), init); !ok || !bytes.Equal(c, cookie) {
		t.Errorf("the request retried with a cookie: %q, %v", c, ok)
	}
	// WithCookie builds what the initiator sends.
	if got, want := wire.WithCookie(init, cookie), msg(cookie, 1); !bytes.Equal(got, want) {
		t.Errorf("WithCookie:\n%x\nwant\n%x", got, want)
	}
	for name, req := range map[string][]byte{
		"the same request":       init,
		"another nonce":          msg(cookie, 2),
		"no cookie, other nonce": msg(nil, 2),
	} {
		if _, ok := wire.CookieRetry(req, init); ok {
			t.Errorf("%s taken for a retry with a cookie", name)
		}
	}
	other := msg(cookie, 1)
	other[0] ^= 1 // another SPI
	if _, ok := wire.CookieRetry(other, init); ok {
		t.Error("a request of another SPI taken for a retry with a cookie")
	}
	// The cookie somewhere else than first.
	late, err := (&wire.Message{Header: wire.Header{SPIi: spi, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator},
		Payloads: []wire.Payload{&wire.Nonce{Data: bytes.Repeat([]byte{1}, 32)}, &wire.Notify{NotifyType: wire.NotifyFragmentationSupported}, &wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := wire.CookieRetry(late, init); ok {
		t.Error("a cookie last taken for a retry")
	}
}
