package stub

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeTunnels is AwaitTunnel: each wait blocks until the test ends the
// negotiation (up: nil, failed: an error) or ctx ends.
type fakeTunnels struct {
	waits chan netip.Addr
	end   chan error
}

func newFakeTunnels() *fakeTunnels {
	return &fakeTunnels{waits: make(chan netip.Addr, 16), end: make(chan error, 16)}
}

func (f *fakeTunnels) await(ctx context.Context, a netip.Addr) error {
	f.waits <- a
	select {
	case err := <-f.end:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func holdHarness(t *testing.T, hold time.Duration, tweak ...func(*Config)) (*harness, *fakeTunnels) {
	t.Helper()
	tun := newFakeTunnels()
	h := newHarness(t, false, append([]func(*Config){withEarly, func(c *Config) {
		c.Hold = hold
		c.AwaitTunnel = tun.await
	}}, tweak...)...)
	h.up.add("held.example. 300 IN A 192.0.2.60", true)
	h.up.addRR(ipseckey(t, "held.example."), true)
	return h, tun
}

// askAsync sends the question and returns the answer and when it came.
func (h *harness) askAsync(t *testing.T, name string, qtype uint16) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		h.ask(t, "udp", name, qtype)
		ch <- time.Now()
	}()
	return ch
}

func notYet(t *testing.T, answered <-chan time.Time, why string) {
	t.Helper()
	select {
	case <-answered:
		t.Fatalf("answered %s", why)
	case <-time.After(100 * time.Millisecond):
	}
}

func answeredWithin(t *testing.T, answered <-chan time.Time, d time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-answered:
		return at
	case <-time.After(d):
		t.Fatalf("no answer within %v", d)
	}
	return time.Time{}
}

// TestHoldReleasedWhenUp: a held answer waits for the key look-up, the
// binding and the prestart, then for the negotiation, and goes out once
// it is up.
func TestHoldReleasedWhenUp(t *testing.T) {
	h, tun := holdHarness(t, 10*time.Second)
	answered := h.askAsync(t, "held.example.", dns.TypeA)
	select {
	case a := <-tun.waits:
		if a != netip.MustParseAddr("192.0.2.60") {
			t.Errorf("waited for %v, want 192.0.2.60", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hold did not wait for the negotiation")
	}
	if h.binder.count() != 1 || h.prestart.count() != 1 {
		t.Errorf("%d binds, %d prestarts before the hold's wait, want 1 and 1", h.binder.count(), h.prestart.count())
	}
	notYet(t, answered, "before the negotiation was over")
	tun.end <- nil
	answeredWithin(t, answered, 5*time.Second)
	if s := h.stub.Stats(); s.Held != 1 || s.HoldTimeouts != 0 {
		t.Errorf("stats %+v, want 1 held, no timeout", s)
	}
}

// TestHoldReleasedOnFailure: a negotiation that fails releases the answer
// at once.
func TestHoldReleasedOnFailure(t *testing.T) {
	h, tun := holdHarness(t, 10*time.Second)
	answered := h.askAsync(t, "held.example.", dns.TypeA)
	<-tun.waits
	notYet(t, answered, "before the negotiation was over")
	tun.end <- errors.New("AUTHENTICATION_FAILED")
	answeredWithin(t, answered, 5*time.Second)
	if s := h.stub.Stats(); s.Held != 1 || s.HoldTimeouts != 0 {
		t.Errorf("stats %+v, want 1 held, no timeout", s)
	}
	if !strings.Contains(h.logs.String(), "the negotiation failed") {
		t.Errorf("the failure is not logged:\n%s", h.logs.String())
	}
}

// TestHoldBounded: a negotiation that does not end in time, or a key
// look-up that hangs, holds the answer for the bound and no longer
// (counted from the upstream answer).
func TestHoldBounded(t *testing.T) {
	const hold = 300 * time.Millisecond
	t.Run("negotiation", func(t *testing.T) {
		h, tun := holdHarness(t, hold)
		start := time.Now()
		answered := h.askAsync(t, "held.example.", dns.TypeA)
		<-tun.waits
		took := answeredWithin(t, answered, 5*time.Second).Sub(start)
		if took < hold || took > hold+200*time.Millisecond {
			t.Errorf("answered after %v, want the bound %v (and not much more)", took, hold)
		}
		if s := h.stub.Stats(); s.Held != 1 || s.HoldTimeouts != 1 {
			t.Errorf("stats %+v, want 1 held, 1 timeout", s)
		}
	})
	t.Run("look-up", func(t *testing.T) {
		h, tun := holdHarness(t, hold)
		release := make(chan struct{})
		defer close(release)
		h.up.mu.Lock()
		h.up.block[dns.TypeIPSECKEY] = release
		h.up.mu.Unlock()
		start := time.Now()
		took := answeredWithin(t, h.askAsync(t, "held.example.", dns.TypeA), 5*time.Second).Sub(start)
		if took < hold || took > hold+200*time.Millisecond {
			t.Errorf("answered after %v, want the bound %v (and not much more)", took, hold)
		}
		select {
		case <-tun.waits:
			t.Error("waited for a negotiation that the hung look-up had not started")
		default:
		}
		if s := h.stub.Stats(); s.HoldTimeouts != 1 {
			t.Errorf("stats %+v, want 1 timeout", s)
		}
	})
}

// TestHoldNotForOthers: answers outside the OE groups, and answers without
// addresses, are never held.
func TestHoldNotForOthers(t *testing.T) {
	h, tun := holdHarness(t, 10*time.Second)
	h.up.add("clear.example. 300 IN A 198.51.100.61", true)
	for _, name := range []string{"clear.example.", "nowhere.example."} {
		start := time.Now()
		answeredWithin(t, h.askAsync(t, name, dns.TypeA), 5*time.Second)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: answered after %v", name, took)
		}
	}
	select {
	case a := <-tun.waits:
		t.Errorf("waited for a negotiation with %v", a)
	default:
	}
	if s := h.stub.Stats(); s.Held != 0 {
		t.Errorf("stats %+v, want nothing held", s)
	}
}

// TestHoldNeedsPrestart: New refuses a hold with nothing to wait for.
func TestHoldNeedsPrestart(t *testing.T) {
	_, err := New(Config{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Upstreams: []string{"127.0.0.1:5353"}, InOE: oeNet, Hold: time.Second})
	if err == nil || !strings.Contains(err.Error(), "prestart") {
		t.Errorf("New with a hold and no prestart: %v", err)
	}
}
