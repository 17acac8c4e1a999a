package ike

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goSender delivers every datagram to its engine on a goroutine of its
// own at once, as a socket with several readers would: the responder
// handles many requests concurrently.
type goSender struct {
	engines map[netip.Addr]*Engine
	wg      *sync.WaitGroup
	self    netip.Addr
	// delay is the network's one-way latency: with it, handshakes under
	// way at once overlap.
	delay time.Duration
}

func (s *goSender) SendKeepalive(netip.AddrPort, netip.AddrPort) error { return nil }

func (s *goSender) Send(pkt []byte, local, remote netip.AddrPort) error {
	if !local.IsValid() || local.Addr() == (netip.Addr{}) {
		local = netip.AddrPortFrom(s.self, 500)
	}
	if local.Port() == 0 {
		local = netip.AddrPortFrom(local.Addr(), 500)
	}
	e := s.engines[remote.Addr()]
	if e == nil {
		return nil
	}
	p := append([]byte(nil), pkt...)
	s.wg.Go(func() {
		time.Sleep(s.delay)
		e.HandlePacket(p, remote, local)
	})
	return nil
}

// TestHalfOpenUnderConcurrentLoad: with many legitimate handshakes at
// once, handled concurrently, the responder never holds more half-open SAs
// than HalfOpenLimit, demands no cookie while fewer handshakes than the
// threshold are under way, and once a burst has passed counts none half
// open and demands no cookie of the next initiator.
func TestHalfOpenUnderConcurrentLoad(t *testing.T) {
	const threshold, limit = 8, 12
	var wg sync.WaitGroup
	engines := map[netip.Addr]*Engine{}
	psk := Credentials{PSK: func(Identity) []byte { return []byte("a shared secret of some length") }}
	resp, err := NewEngine(EngineConfig{
		Credentials: psk, Policy: &fakePolicy{}, Installer: newFakeInstaller(0x10000000),
		Sender:                  &goSender{engines: engines, wg: &wg, self: addrB, delay: 10 * time.Millisecond},
		HalfOpenCookieThreshold: threshold, HalfOpenLimit: limit,
		RetransmitBase: 50 * time.Millisecond, RetransmitMax: 200 * time.Millisecond, GiveUp: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.panics = true
	init, err := NewEngine(EngineConfig{
		Credentials: psk, Policy: &fakePolicy{}, Installer: newFakeInstaller(0x20000000),
		Sender:         &goSender{engines: engines, wg: &wg, self: addrA, delay: 10 * time.Millisecond},
		RetransmitBase: 50 * time.Millisecond, RetransmitMax: 200 * time.Millisecond, GiveUp: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	init.panics = true
	engines[addrB] = resp
	var next atomic.Uint32
	for i := range 256 {
		engines[netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})] = init
	}
	t.Cleanup(func() { init.Close(); resp.Close(); wg.Wait() })

	// run makes n handshakes, conc at a time, each from a new address.
	run := func(n, conc int) {
		t.Helper()
		var failed atomic.Int32
		var first error
		var once sync.Once
		var g sync.WaitGroup
		for range conc {
			g.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					local := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, err := init.Initiate(ctx, InitiateOptions{Remote: netip.AddrPortFrom(addrB, 500), Local: local,
						Auth: AuthKindPSK, PeerID: AddrIdentity(addrB), Mode: ModeTunnel})
					cancel()
					if err != nil {
						failed.Add(1)
						once.Do(func() { first = fmt.Errorf("from %v: %w", local, err) })
					}
				}
			})
		}
		g.Wait()
		if n := failed.Load(); n > 0 {
			t.Fatalf("%d handshakes failed, the first %v", n, first)
		}
	}
	peak := func() int {
		resp.mu.Lock()
		defer resp.mu.Unlock()
		return resp.nHalfPeak
	}

	// Fewer at once than the threshold: never a cookie.
	run(64, threshold/2)
	if st := resp.Stats(); st.CookiesSent != 0 || peak() > threshold/2 {
		t.Fatalf("%d at once, below the threshold of %d: %d cookies demanded, peak %d half open", threshold/2, threshold, st.CookiesSent, peak())
	}

	// A burst of more than the limit at once: cookies, and never more
	// half open than the limit.
	next.Store(0)
	run(96, 4*limit)
	st := resp.Stats()
	if st.CookiesSent == 0 {
		t.Errorf("a burst of %d at once with a threshold of %d demanded no cookie", 4*limit, threshold)
	}
	if p := peak(); p > limit {
		t.Errorf("peak of %d half-open SAs, above the limit of %d", p, limit)
	}
	t.Logf("burst: peak %d half open (limit %d), %d cookies, %d limit drops", peak(), limit, st.CookiesSent, st.Drops[DropHalfOpenLimit])

	// After the burst: none half open, and the next initiator is answered
	// without a cookie.
	deadline := time.Now().Add(5 * time.Second)
	for resp.Stats().HalfOpen != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := resp.Stats().HalfOpen; h != 0 {
		t.Fatalf("%d half open after the burst completed", h)
	}
	before := resp.Stats().CookiesSent
	next.Store(200)
	run(201, 1)
	if after := resp.Stats().CookiesSent; after != before {
		t.Errorf("after the burst, one handshake was asked for a cookie (%d → %d)", before, after)
	}
}
