package stub

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

func withEarly(c *Config) { c.EarlyLookup = true }

// TestEarlyLookupStartsWithQuery: with EarlyLookup, the IPSECKEY query at
// the name leaves while the A query is still upstream, and the job that
// the answer makes takes its result: one key look-up, bound as before.
func TestEarlyLookupStartsWithQuery(t *testing.T) {
	h := newHarness(t, false, withEarly)
	h.up.add("fast.example. 300 IN A 192.0.2.50", true)
	h.up.addRR(ipseckey(t, "fast.example."), true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeA] = release
	h.up.mu.Unlock()

	answered := make(chan *dns.Msg, 1)
	go func() { answered <- h.ask(t, "udp", "fast.example.", dns.TypeA) }()
	deadline := time.Now().Add(5 * time.Second)
	for h.up.queries("fast.example.", dns.TypeIPSECKEY) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no IPSECKEY query while the A query was upstream")
		}
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case <-answered:
		t.Fatal("answered while upstream held the A query")
	default:
	}
	close(release)
	if resp := <-answered; len(resp.Answer) != 1 {
		t.Fatalf("answer %v", resp.Answer)
	}
	bd := waitBind(t, h.binder)
	if bd.name != "fast.example." || !slices.Equal(bd.addrs, addrs("192.0.2.50")) || len(bd.keys.Keys) != 1 {
		t.Errorf("Bind(%q, %v, %d keys), want fast.example., [192.0.2.50], 1 key", bd.name, bd.addrs, len(bd.keys.Keys))
	}
	select {
	case <-h.prestart.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no prestart")
	}
	h.settle(t)
	if n := h.up.queries("fast.example.", dns.TypeIPSECKEY); n != 1 {
		t.Errorf("%d IPSECKEY queries, want 1 (the job takes the early look-up's result)", n)
	}
	if s := h.stub.Stats(); s.EarlyLookups != 1 || s.Lookups != 1 || s.EarlyWasted != 0 || s.Bindings != 1 {
		t.Errorf("stats %+v, want 1 early look-up, 1 look-up, none wasted, 1 binding", s)
	}
}

// TestEarlyLookupOffByDefault: without EarlyLookup the key look-up waits
// for the answer, as before.
func TestEarlyLookupOffByDefault(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("late.example. 300 IN A 192.0.2.51", true)
	h.up.addRR(ipseckey(t, "late.example."), true)
	h.ask(t, "udp", "late.example.", dns.TypeA)
	waitBind(t, h.binder)
	h.settle(t)
	if s := h.stub.Stats(); s.EarlyLookups != 0 || s.Lookups != 1 {
		t.Errorf("stats %+v, want no early look-up and 1 look-up", s)
	}
}

// TestEarlyLookupSharedByAAndAAAA: the A and AAAA queries of one name,
// upstream at once, share one early look-up, and its one Bind carries
// both answers' addresses.
func TestEarlyLookupSharedByAAndAAAA(t *testing.T) {
	h := newHarness(t, false, withEarly)
	h.up.add("dual.example. 300 IN A 192.0.2.52", true)
	h.up.add("dual.example. 300 IN AAAA 2001:db8::52", true)
	h.up.addRR(ipseckey(t, "dual.example."), true)
	relA, relAAAA, relKey := make(chan struct{}), make(chan struct{}), make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeA], h.up.block[dns.TypeAAAA], h.up.block[dns.TypeIPSECKEY] = relA, relAAAA, relKey
	h.up.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { h.ask(t, "udp", "dual.example.", dns.TypeA) })
	wg.Go(func() { h.ask(t, "udp", "dual.example.", dns.TypeAAAA) })
	deadline := time.Now().Add(5 * time.Second)
	for h.up.queries("dual.example.", dns.TypeA) == 0 || h.up.queries("dual.example.", dns.TypeAAAA) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the A and AAAA queries did not both reach upstream")
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(relA)
	close(relAAAA)
	wg.Wait()
	close(relKey)
	bd := waitBind(t, h.binder)
	h.settle(t)
	slices.SortFunc(bd.addrs, netip.Addr.Compare)
	if !slices.Equal(bd.addrs, addrs("192.0.2.52", "2001:db8::52")) {
		t.Errorf("Bind addresses %v, want both answers'", bd.addrs)
	}
	if s := h.stub.Stats(); s.EarlyLookups != 1 || s.Lookups != 1 || s.EarlyWasted != 0 || h.binder.count() != 1 {
		t.Errorf("stats %+v and %d binds, want 1 early look-up, 1 look-up, none wasted, 1 bind", s, h.binder.count())
	}
}

// blockingKeys is a KeyLookup that blocks every look-up until release is
// closed or its ctx ends, and records how many ran at once and why the
// cancelled ones ended.
type blockingKeys struct {
	release chan struct{}
	keys    KeyLookup // answers once released; nil: no key

	mu        sync.Mutex
	running   int
	maxAtOnce int
	started   []string
	cancelled chan string
}

func newBlockingKeys(keys KeyLookup) *blockingKeys {
	return &blockingKeys{release: make(chan struct{}), keys: keys, cancelled: make(chan string, 64)}
}

func (b *blockingKeys) Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error) {
	b.mu.Lock()
	b.running++
	b.maxAtOnce = max(b.maxAtOnce, b.running)
	b.started = append(b.started, id.String())
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
	case <-ctx.Done():
		b.cancelled <- id.String()
		return dnskey.Result{ID: id}, ctx.Err()
	}
	if b.keys == nil {
		return dnskey.Result{ID: id}, dnskey.ErrNoKey
	}
	return b.keys.Lookup(ctx, id)
}

// waitStarted waits, at most for d, until a look-up of id has started.
func (b *blockingKeys) waitStarted(id string, d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		started := slices.Contains(b.started, id)
		b.mu.Unlock()
		if started {
			return
		}
	}
}

func (b *blockingKeys) startedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.started)
}

func waitCancelled(t *testing.T, b *blockingKeys, want string) {
	t.Helper()
	select {
	case got := <-b.cancelled:
		if got != want {
			t.Errorf("cancelled the look-up of %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the early look-up of %s was not cancelled", want)
	}
}

// TestEarlyLookupCancelled: an early look-up whose answer binds nothing
// is cancelled while it runs and counted as wasted: an NXDOMAIN, an
// upstream SERVFAIL, no upstream at all (the stub's SERVFAIL), and an
// answer outside the OE groups. The answers come back while the look-ups
// hang, and nothing is bound or started.
func TestEarlyLookupCancelled(t *testing.T) {
	keys := newBlockingKeys(nil)
	defer close(keys.release)
	h := newHarness(t, false, withEarly, func(c *Config) { c.Keys = keys })
	h.up.add("clear.example. 300 IN A 198.51.100.9", true)
	h.up.setReply(func(w dns.ResponseWriter, req *dns.Msg) bool {
		// Upstream answers once the early look-up has started, so that
		// the answer cancels a running look-up (rather than one that
		// its goroutine had not begun, which ends without a look-up).
		keys.waitStarted("@"+req.Question[0].Name, 2*time.Second)
		if req.Question[0].Name != "broken.example." {
			return false
		}
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		w.WriteMsg(m)
		return true
	})
	for i, c := range []struct {
		name  string
		rcode int
	}{
		{"nowhere.example.", dns.RcodeNameError},
		{"broken.example.", dns.RcodeServerFailure},
		{"clear.example.", dns.RcodeSuccess},
	} {
		start := time.Now()
		resp := h.ask(t, "udp", c.name, dns.TypeA)
		if resp.Rcode != c.rcode {
			t.Errorf("%s: rcode %s, want %s", c.name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.rcode])
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: answered after %v while its look-up hung", c.name, took)
		}
		waitCancelled(t, keys, "@"+c.name)
		if s := h.stub.Stats(); s.EarlyWasted != uint64(i+1) {
			t.Errorf("%s: %d wasted early look-ups, want %d", c.name, s.EarlyWasted, i+1)
		}
	}

	// No upstream: the stub's own SERVFAIL.
	down := newHarness(t, false, withEarly, func(c *Config) {
		c.Keys = keys
		c.Upstreams = []string{deadUpstream(t)}
		c.Timeout = 100 * time.Millisecond
	})
	if resp := down.ask(t, "udp", "any.example.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s without an upstream, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	waitCancelled(t, keys, "@any.example.")
	if s := down.stub.Stats(); s.EarlyLookups != 1 || s.EarlyWasted != 1 || s.ServFail != 1 {
		t.Errorf("stats %+v, want 1 early look-up, wasted, and 1 SERVFAIL", s)
	}
	if h.binder.count()+down.binder.count() != 0 || h.prestart.count()+down.prestart.count() != 0 {
		t.Errorf("%d binds, %d prestarts, want none", h.binder.count()+down.binder.count(), h.prestart.count()+down.prestart.count())
	}
}

// deadUpstream is a loopback UDP address nothing answers on.
func deadUpstream(t *testing.T) string {
	t.Helper()
	up := startUpstream(t)
	up.setReply(func(dns.ResponseWriter, *dns.Msg) bool { return true }) // never answers
	return up.addr
}

// TestEarlyLookupBounded: early look-ups share the MaxLookups tokens;
// answers come back while every token is taken; the look-ups waiting for
// a token run once the first ones end, and every name is bound.
func TestEarlyLookupBounded(t *testing.T) {
	h0 := startUpstream(t)
	res, err := dnskey.New(dnskey.Config{Servers: []string{h0.addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	keys := newBlockingKeys(res)
	h := newHarness(t, false, withEarly, func(c *Config) { c.Keys = keys; c.MaxLookups = 2 })
	names := []string{"n1.example.", "n2.example.", "n3.example.", "n4.example.", "n5.example."}
	for i, n := range names {
		h.up.add(n+" 300 IN A 192.0.2."+string(rune('1'+i)), true)
		rr := ipseckey(t, n)
		h0.addRR(rr, true)
	}
	start := time.Now()
	for _, n := range names {
		if resp := h.ask(t, "udp", n, dns.TypeA); len(resp.Answer) != 1 {
			t.Fatalf("%s: answer %v", n, resp.Answer)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("5 answers took %v while the look-ups were blocked", took)
	}
	time.Sleep(50 * time.Millisecond)
	if n := keys.startedCount(); n != 2 {
		t.Errorf("%d look-ups started while blocked, want 2 (MaxLookups)", n)
	}
	close(keys.release)
	for range names {
		waitBind(t, h.binder)
	}
	h.settle(t)
	keys.mu.Lock()
	defer keys.mu.Unlock()
	if keys.maxAtOnce != 2 {
		t.Errorf("%d look-ups ran at once, want 2 (MaxLookups)", keys.maxAtOnce)
	}
	if s := h.stub.Stats(); s.EarlyLookups != 5 || s.Lookups != 5 || s.EarlyWasted != 0 || s.Bindings != 5 {
		t.Errorf("stats %+v, want 5 early look-ups, 5 look-ups, none wasted, 5 bindings", s)
	}
}

// TestEarlyLookupNotForPendingName: a query for a name whose earlier
// answer's job is still looking up starts no second look-up; its answer
// joins the job, and nothing is counted as wasted.
func TestEarlyLookupNotForPendingName(t *testing.T) {
	h := newHarness(t, false, withEarly)
	h.up.add("seq.example. 300 IN A 192.0.2.53", true)
	h.up.add("seq.example. 300 IN AAAA 2001:db8::53", true)
	h.up.addRR(ipseckey(t, "seq.example."), true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "seq.example.", dns.TypeA)
	h.ask(t, "udp", "seq.example.", dns.TypeAAAA) // the A's job still waits for its look-up
	close(release)
	bd := waitBind(t, h.binder)
	h.settle(t)
	if !slices.Equal(bd.addrs, addrs("192.0.2.53", "2001:db8::53")) {
		t.Errorf("Bind addresses %v, want the A and the AAAA answer's", bd.addrs)
	}
	if s := h.stub.Stats(); s.EarlyLookups != 1 || s.Lookups != 1 || s.EarlyWasted != 0 || h.binder.count() != 1 {
		t.Errorf("stats %+v and %d binds, want 1 early look-up, 1 look-up, none wasted, 1 bind", s, h.binder.count())
	}
}
