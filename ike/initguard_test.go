package ike

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// floodInit is a well-formed IKE_SA_INIT request (AES-GCM-16-256,
// PRF-HMAC-SHA2-256, Curve25519, a random public value and nonce), as a
// flood sends them: it never goes on to IKE_AUTH.
func floodInit(r *rand.Rand, cookie []byte) []byte {
	transforms := []byte{
		3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0,
		3, 0, 0, 8, 2, 0, 0, 5,
		0, 0, 0, 8, 4, 0, 0, 31,
	}
	proposal := append([]byte{0, 0, 0, byte(8 + len(transforms)), 1, 1, 0, 3}, transforms...)
	sa := append([]byte{34, 0, 0, byte(4 + len(proposal))}, proposal...)
	ke := append([]byte{40, 0, 0, 8 + 32, 0, 31, 0, 0}, randomOctets(r, 32)...)
	nonce := append([]byte{0, 0, 0, 4 + 32}, randomOctets(r, 32)...)
	body := append(append(sa, ke...), nonce...)
	first := byte(wire.PayloadSA)
	if cookie != nil {
		n := append([]byte{byte(wire.PayloadSA), 0, 0, byte(8 + len(cookie)), 0, 0, 0x40, 0x06}, cookie...)
		body, first = append(n, body...), byte(wire.PayloadNotify)
	}
	h := make([]byte, 28, 28+len(body))
	binary.BigEndian.PutUint64(h[0:], r.Uint64()|1)
	h[16], h[17], h[18], h[19] = first, 0x20, byte(wire.IKESAInit), byte(wire.FlagInitiator)
	binary.BigEndian.PutUint32(h[24:], uint32(28+len(body)))
	return append(h, body...)
}

func randomOctets(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestScanInit: the nonce and the cookie are found wherever they sit in
// the chain, and a chain whose lengths lie is refused.
func TestScanInit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	plain := floodInit(r, nil)
	s, err := wire.ScanInit(plain)
	if err != nil || len(s.Nonce) != 32 || s.Cookie != nil {
		t.Fatalf("plain request: %v, nonce %d octets, cookie %x", err, len(s.Nonce), s.Cookie)
	}
	cookie := []byte{7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	withCookie := floodInit(r, cookie)
	if s, err = wire.ScanInit(withCookie); err != nil || string(s.Cookie) != string(cookie) || len(s.Nonce) != 32 {
		t.Fatalf("request with a cookie: %v, cookie %x, nonce %d octets", err, s.Cookie, len(s.Nonce))
	}
	for name, mangle := range map[string]func([]byte) []byte{
		"payload longer than the datagram": func(b []byte) []byte { b[28+2] = 0xff; return b },
		"payload shorter than its header":  func(b []byte) []byte { b[28+3], b[28+2] = 2, 0; return b },
		"truncated":                        func(b []byte) []byte { return b[:len(b)-10] },
		// The KE payload (at 28+40) the last.
		"no nonce": func(b []byte) []byte { b[68] = 0; return b[:len(b)-36] },
	} {
		b := mangle(append([]byte(nil), plain...))
		if _, err := wire.ScanInit(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEarlyCookieCheck: while cookies are demanded, a request without one
// gets a demand and no half-open SA, without being parsed; one with a
// valid cookie is answered in full; with a wrong one, counted as
// bad_cookie and asked again. The late check (LateCookieCheck) counts the
// same.
func TestEarlyCookieCheck(t *testing.T) {
	for _, late := range []bool{false, true} {
		_, _, b := newPair(t, nil, nil, func(c *EngineConfig) {
			c.HalfOpenCookieThreshold = -1
			c.InitLimits.LateCookieCheck = late
		})
		r := rand.New(rand.NewPCG(3, 4))
		from := netip.AddrPortFrom(netip.MustParseAddr("100.64.1.2"), 500)
		local := netip.AddrPortFrom(addrB, 500)
		for range 5 {
			b.e.HandlePacket(floodInit(r, nil), local, from)
		}
		req := floodInit(r, nil)
		s, _ := wire.ScanInit(req)
		var spi SPI
		copy(spi[:], req[:8])
		good, err := b.e.cookies.Make(s.Nonce, from.Addr(), spi)
		if err != nil {
			t.Fatal(err)
		}
		// The same request, with the cookie in front.
		withCookie := append(append([]byte(nil), req[:28]...), append([]byte{req[16], 0, 0, byte(8 + len(good)), 0, 0, 0x40, 0x06}, good...)...)
		withCookie = append(withCookie, req[28:]...)
		withCookie[16] = byte(wire.PayloadNotify)
		binary.BigEndian.PutUint32(withCookie[24:], uint32(len(withCookie)))
		b.e.HandlePacket(withCookie, local, from)
		bad := floodInit(r, make([]byte, len(good)))
		b.e.HandlePacket(bad, local, from)

		st := b.e.Stats()
		if st.CookiesSent != 6 || st.CookiesVerified != 1 || st.HalfOpen != 1 || st.Drops[DropBadCookie] != 1 {
			t.Errorf("late %v: %d cookies demanded, %d verified, %d half open, %d bad cookies; want 6, 1, 1, 1",
				late, st.CookiesSent, st.CookiesVerified, st.HalfOpen, st.Drops[DropBadCookie])
		}
	}
}

// TestCookieDemandMarshal: the demand built in place is what the codec
// would write.
func TestCookieDemandMarshal(t *testing.T) {
	spi := SPI{1, 2, 3, 4, 5, 6, 7, 8}
	cookie := []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7}
	want, err := (&wire.Message{Header: wire.Header{SPIi: spi, Exchange: wire.IKESAInit, Flags: wire.FlagResponse},
		Payloads: []wire.Payload{&wire.Notify{NotifyType: wire.NotifyCookie, Data: cookie}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := cookieDemand(spi, cookie); string(got) != string(want) {
		t.Errorf("cookieDemand:\n got %x\nwant %x", got, want)
	}
}

// TestSourceRateLimit: one source gets its burst of cookie demands, then
// SourceRate a second; the rest are dropped as rate_limited, and another
// source is not affected.
func TestSourceRateLimit(t *testing.T) {
	n, _, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.HalfOpenCookieThreshold = -1
		c.InitLimits.SourceRate, c.InitLimits.SourceBurst = 10, 20
	})
	r := rand.New(rand.NewPCG(5, 6))
	local := netip.AddrPortFrom(addrB, 500)
	one := netip.AddrPortFrom(netip.MustParseAddr("100.64.1.2"), 500)
	other := netip.AddrPortFrom(netip.MustParseAddr("100.64.1.3"), 500)
	for range 30 {
		b.e.HandlePacket(floodInit(r, nil), local, one)
	}
	b.e.HandlePacket(floodInit(r, nil), local, other)
	st := b.e.Stats()
	if st.CookiesSent != 21 || st.Drops[DropRateLimited] != 10 {
		t.Errorf("%d cookies demanded, %d rate limited; want 21, 10", st.CookiesSent, st.Drops[DropRateLimited])
	}
	n.clock.Advance(time.Second)
	for range 15 {
		b.e.HandlePacket(floodInit(r, nil), local, one)
	}
	st = b.e.Stats()
	if st.CookiesSent != 31 || st.Drops[DropRateLimited] != 15 {
		t.Errorf("a second later: %d cookies demanded, %d rate limited; want 31, 15", st.CookiesSent, st.Drops[DropRateLimited])
	}
}

// TestSourceLimiterManySources: a flood from many sources, sharing the
// table's slots, never costs a legitimate source its demands.
func TestSourceLimiterManySources(t *testing.T) {
	l := newSourceLimiter(10, 20, 64)
	now := time.Unix(0, 0)
	legit := netip.MustParseAddr("198.18.0.100")
	for i := range 1 << 16 {
		a := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
		l.allow(a, now)
		if i%1000 == 0 {
			if !l.allow(legit, now) {
				t.Fatalf("the legitimate source was refused after %d flood sources", i)
			}
		}
	}
	if len(l.slots) != 64 {
		t.Errorf("table grew to %d slots", len(l.slots))
	}
	// IPv6: one /64 is one source.
	a1, a2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	if sourceKey(a1) != sourceKey(a2) || sourceKey(a1) == sourceKey(netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Error("IPv6 sources are not keyed by /64")
	}
}

// TestBusyHalfOpenReaped: while cookie mode is on, half-open SAs go after
// BusyHalfOpenTimeout rather than HalfOpenTimeout; with the reaper off
// they stay (its default in the engine; oemeshd turns it on).
func TestBusyHalfOpenReaped(t *testing.T) {
	for _, busy := range []time.Duration{5 * time.Second, 0} {
		n, _, b := newPair(t, nil, nil, func(c *EngineConfig) {
			c.HalfOpenCookieThreshold = 3
			c.InitLimits.BusyHalfOpenTimeout = busy
		})
		r := rand.New(rand.NewPCG(7, 8))
		local := netip.AddrPortFrom(addrB, 500)
		for i := range 4 {
			b.e.HandlePacket(floodInit(r, nil), local, netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64, 0, byte(i + 1)}), 500))
		}
		if st := b.e.Stats(); st.HalfOpen != 3 || !st.CookieMode {
			t.Fatalf("busy %v: %d half open, cookie mode %v; want 3, on", busy, st.HalfOpen, st.CookieMode)
		}
		n.advance(7 * time.Second)
		want := 0
		if busy == 0 {
			want = 3
		}
		if st := b.e.Stats(); st.HalfOpen != want {
			t.Errorf("busy %v: %d half open 7 s after the flood, want %d", busy, st.HalfOpen, want)
		}
	}
}

// BenchmarkFloodInit is the responder's cost of one spoofed IKE_SA_INIT
// while it demands cookies: the early check and the demand (the default),
// and the full parse first (LateCookieCheck).
func BenchmarkFloodInit(b *testing.B) {
	for _, late := range []bool{false, true} {
		name := "early"
		if late {
			name = "late"
		}
		b.Run(name, func(b *testing.B) {
			_, _, p := newPair(b, nil, nil, func(c *EngineConfig) {
				c.HalfOpenCookieThreshold = -1
				c.InitLimits.LateCookieCheck = late
				c.InitLimits.SourceRate = -1
			})
			r := rand.New(rand.NewPCG(9, 10))
			reqs := make([][]byte, 1024)
			for i := range reqs {
				reqs[i] = floodInit(r, nil)
			}
			local, from := netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(netip.MustParseAddr("100.64.1.2"), 500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p.e.HandlePacket(reqs[i%len(reqs)], local, from)
			}
		})
	}
}
