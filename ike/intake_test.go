package ike

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// gatedSender blocks every send until the gate opens, and records where
// each datagram went, in order.
type gatedSender struct {
	gate chan struct{}
	mu   sync.Mutex
	sent []netip.AddrPort
	n    chan struct{}
}

func (s *gatedSender) Send(pkt []byte, local, remote netip.AddrPort) error {
	<-s.gate
	s.mu.Lock()
	s.sent = append(s.sent, remote)
	s.mu.Unlock()
	s.n <- struct{}{}
	return nil
}

// TestIntakePriority: while one worker is busy, cookieless IKE_SA_INIT
// requests beyond the bulk queue are dropped as overloaded at once, and a
// datagram of any other kind queued after the bulk ones is handled before
// them.
func TestIntakePriority(t *testing.T) {
	s := &gatedSender{gate: make(chan struct{}), n: make(chan struct{}, 64)}
	_, _, b := newPair(t, nil, nil, func(c *EngineConfig) {
		if c.Sender.(*memSender).self == addrB {
			c.Sender, c.HalfOpenCookieThreshold = s, -1
		}
	})
	e := b.e
	in := e.NewIntake(IntakeConfig{Workers: 1, Bulk: 4, Priority: 4})
	r := rand.New(rand.NewPCG(11, 12))
	local := netip.AddrPortFrom(addrB, 500)
	from := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64, 0, byte(i)}), 500)
	}

	// The first request occupies the worker (its cookie demand waits at
	// the gate); then 4 fill the bulk queue, and 3 more are dropped.
	in.Handle(floodInit(r, nil), local, from(1))
	for len(in.bulk) > 0 {
		time.Sleep(time.Millisecond) // until the worker has taken it
	}
	for i := range 7 {
		in.Handle(floodInit(r, nil), local, from(i+2))
	}
	if got := e.Stats().Drops[DropOverloaded]; got != 3 {
		t.Fatalf("%d datagrams dropped as overloaded, want 3", got)
	}
	// A request with a cookie (which does not verify: it gets a new
	// demand, sent with a Notify first too) goes in the priority queue;
	// an INFORMATIONAL request for an unknown SA, dropped by the engine
	// without an answer, likewise.
	unknown := floodInit(r, nil)
	unknown[18] = byte(wire.Informational)
	in.Handle(unknown, local, from(20))
	withCookie := floodInit(r, make([]byte, 17))
	in.Handle(withCookie, local, from(21))
	close(s.gate)
	for range 1 + 4 + 1 {
		<-s.n
	}
	in.Close()
	st := e.Stats()
	if st.Drops[DropUnknownSPI]+st.Drops[DropUnexpectedExchange]+st.Drops[DropMalformed] == 0 {
		t.Errorf("the INFORMATIONAL request never reached the engine: drops %v", st.Drops)
	}
	if st.Drops[DropBadCookie] != 1 {
		t.Errorf("%d bad cookies, want 1 (the request with a cookie): drops %v", st.Drops[DropBadCookie], st.Drops)
	}
	// The worker took the request with the cookie right after the first
	// one, before the bulk queue: the second demand sent was its.
	if len(s.sent) != 6 || s.sent[0] != from(1) || s.sent[1] != from(21) {
		t.Errorf("demands sent to %v; want 6, to %v and %v first", s.sent, from(1), from(21))
	}
}
