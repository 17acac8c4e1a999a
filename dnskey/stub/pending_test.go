package stub

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

// pendingHarness is a harness whose binder is a real binding store, so
// that the pending marks the stub makes can be awaited as OE does.
func pendingHarness(t *testing.T, tweak ...func(*Config)) (*harness, *dnskey.Bindings) {
	t.Helper()
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{PendingWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, false, append([]func(*Config){func(c *Config) { c.Binder = store }}, tweak...)...)
	return h, store
}

type awaitResult struct {
	b          dnskey.Binding
	ok, waited bool
	err        error
}

func await(store *dnskey.Bindings, addr netip.Addr) <-chan awaitResult {
	ch := make(chan awaitResult, 1)
	go func() {
		var r awaitResult
		r.b, r.ok, r.waited, r.err = store.Await(context.Background(), addr)
		ch <- r
	}()
	return ch
}

func awaitDone(t *testing.T, ch <-chan awaitResult) awaitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Await did not return within 5s")
	}
	return awaitResult{}
}

// TestPendingBeforeAnswer: the answer's addresses are pending by the time
// the application has the answer, while the key look-up is blocked; OE's
// wait (Await) for one of them lasts until the look-up binds it, and then
// takes the binding.
func TestPendingBeforeAnswer(t *testing.T) {
	h, store := pendingHarness(t)
	h.up.add("race.example. 300 IN A 192.0.2.40", true)
	h.up.add("race.example. 300 IN A 198.51.100.40", true) // outside the OE groups: not marked
	h.up.addRR(ipseckey(t, "race.example."), true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()

	resp := h.ask(t, "udp", "race.example.", dns.TypeA)
	if len(resp.Answer) != 2 {
		t.Fatalf("answer %v", resp.Answer)
	}
	// No waiting here: the mark must be there when the answer is.
	if s := store.Stats(); s.Pending != 1 || s.Pended != 1 {
		t.Fatalf("binding store %+v when the answer arrived: want 192.0.2.40 pending", s)
	}
	addr := netip.MustParseAddr("192.0.2.40")
	ch := await(store, addr)
	select {
	case r := <-ch:
		t.Fatalf("Await returned %+v while the look-up was blocked", r)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	r := awaitDone(t, ch)
	if !r.ok || !r.waited || r.err != nil || r.b.Name != "race.example." {
		t.Errorf("Await = %+v, want the binding of race.example. after a wait", r)
	}
	h.settle(t)
	if s := store.Stats(); s.Pending != 0 || s.WaitsBound != 1 {
		t.Errorf("binding store %+v, want nothing pending, 1 wait that found the binding", s)
	}
}

// TestPendingSettledWithoutKey: a name without a key settles its
// addresses as "no binding": the waiter goes on, without an error.
func TestPendingSettledWithoutKey(t *testing.T) {
	h, store := pendingHarness(t)
	h.up.add("nokey.example. 300 IN A 192.0.2.41", true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "nokey.example.", dns.TypeA)
	ch := await(store, netip.MustParseAddr("192.0.2.41"))
	close(release)
	if r := awaitDone(t, ch); r.ok || !r.waited || r.err != nil {
		t.Errorf("Await = %+v, want no binding after a wait, no error", r)
	}
	h.settle(t)
	if s := store.Stats(); s.Pending != 0 {
		t.Errorf("%d pending after the look-up", s.Pending)
	}
}

// TestPendingSettledOnClose: closing the stub with a look-up hanging
// settles its addresses: nobody waits on them.
func TestPendingSettledOnClose(t *testing.T) {
	h, store := pendingHarness(t)
	h.up.add("hang.example. 300 IN A 192.0.2.42", true)
	release := make(chan struct{})
	defer close(release)
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "hang.example.", dns.TypeA)
	ch := await(store, netip.MustParseAddr("192.0.2.42"))
	h.stub.Close()
	if r := awaitDone(t, ch); r.ok || !r.waited || r.err != nil {
		t.Errorf("Await = %+v, want no binding after a wait, no error", r)
	}
	if s := store.Stats(); s.Pending != 0 {
		t.Errorf("%d pending after Close", s.Pending)
	}
}

// TestPendingNotMarkedWhenDropped: an answer beyond MaxPending is not
// looked up, so its addresses are not marked: OE does not wait.
func TestPendingNotMarkedWhenDropped(t *testing.T) {
	h, store := pendingHarness(t, func(c *Config) { c.MaxPending = 1; c.MaxLookups = 1 })
	h.up.add("one.example. 300 IN A 192.0.2.43", true)
	h.up.add("two.example. 300 IN A 192.0.2.44", true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "one.example.", dns.TypeA)
	h.ask(t, "udp", "two.example.", dns.TypeA)
	if _, _, waited, _ := store.Await(context.Background(), netip.MustParseAddr("192.0.2.44")); waited {
		t.Error("Await waited for an address whose look-up was dropped")
	}
	close(release)
	h.settle(t)
	if s := store.Stats(); s.Pending != 0 || h.stub.Stats().Dropped != 1 {
		t.Errorf("store %+v, stub %+v: want nothing pending, 1 dropped", s, h.stub.Stats())
	}
}
