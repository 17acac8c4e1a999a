package dnskey

// The answer cache: TTLs and their clamps, negative answers, the bound on
// its size, expiry per record type, and remembered failures.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCacheTTLExpiry(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, testKeys().ed.Public())
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+key, target+" 120 IN IPSECKEY 20 0 4 . "+key)
	r, clk := newTestResolver(t, s, nil)
	id := mustID(t, "198.18.0.2")
	lookup := func() Result {
		t.Helper()
		res, err := r.Lookup(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := lookup(); res.Keys[0].TTL != 120*time.Second {
		t.Fatalf("TTL %v, want the RRset minimum 120s", res.Keys[0].TTL)
	}
	clk.Advance(119 * time.Second)
	if res := lookup(); res.Keys[0].TTL != time.Second {
		t.Fatalf("TTL %v after 119s, want 1s", res.Keys[0].TTL)
	}
	if n := s.count(target, dns.TypeIPSECKEY); n != 1 {
		t.Fatalf("%d queries before expiry, want 1", n)
	}
	clk.Advance(time.Second)
	lookup()
	if n := s.count(target, dns.TypeIPSECKEY); n != 2 {
		t.Fatalf("%d queries after expiry, want 2", n)
	}
	st := r.Stats()
	if st.Hits != 5 || st.Misses != 4 { // TXT and KEY are NODATA, cached for the SOA minimum (300s)
		t.Fatalf("stats %+v, want 5 hits 4 misses", st)
	}
}

func TestCacheTTLClamp(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, testKeys().ed.Public())
	s.add(t, target+" 5 IN IPSECKEY 10 0 4 . "+key, "3.0.18.198.in-addr.arpa. 604800 IN IPSECKEY 10 0 4 . "+key)
	r, _ := newTestResolver(t, s, func(c *Config) { c.MinTTL = time.Minute; c.MaxTTL = time.Hour })
	res, _ := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if res.Keys[0].TTL != time.Minute {
		t.Fatalf("TTL 5s clamped to %v, want 1m", res.Keys[0].TTL)
	}
	res, _ = r.Lookup(context.Background(), mustID(t, "198.18.0.3"))
	if res.Keys[0].TTL != time.Hour {
		t.Fatalf("TTL 1w clamped to %v, want 1h", res.Keys[0].TTL)
	}
	if _, err := New(Config{Servers: []string{"127.0.0.1"}, MinTTL: time.Hour, MaxTTL: time.Minute}); err == nil {
		t.Fatal("min > max accepted")
	}
}

// RFC 2308: a negative answer is cached for min(SOA TTL, SOA MINIMUM);
// without an SOA it is not cached.
func TestNegativeCaching(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.set(func() { s.nxdomain[target] = true })
	s.set(func() {
		s.soa = mustRR(t, "0.18.198.in-addr.arpa. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 300").(*dns.SOA)
	})
	r, clk := newTestResolver(t, s, nil)
	id := mustID(t, "198.18.0.2")
	for range 3 {
		if _, err := r.Lookup(context.Background(), id); !errors.Is(err, ErrNoKey) {
			t.Fatal(err)
		}
	}
	if n := s.count(target, dns.TypeKEY); n != 1 {
		t.Fatalf("NXDOMAIN asked %d times within its negative TTL, want 1", n)
	}
	clk.Advance(300 * time.Second)
	r.Lookup(context.Background(), id)
	if n := s.count(target, dns.TypeKEY); n != 2 {
		t.Fatalf("NXDOMAIN asked %d times after 300s (SOA minimum), want 2", n)
	}

	// NODATA without SOA: not cached.
	s.set(func() { s.soa = nil })
	other := "7.0.18.198.in-addr.arpa."
	s.add(t, other+" 300 IN PTR host.example.")
	for range 2 {
		r.Lookup(context.Background(), mustID(t, "198.18.0.7"))
	}
	if n := s.count(other, dns.TypeTXT); n != 2 {
		t.Fatalf("SOA-less NODATA asked %d times, want 2 (not cached)", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, testKeys().ed.Public())
	for _, a := range []string{"2", "3", "4"} {
		s.add(t, a+".0.18.198.in-addr.arpa. 300 IN IPSECKEY 10 0 4 . "+key)
	}
	// The bound counts names; each holds its IPSECKEY, TXT and KEY answers.
	r, _ := newTestResolver(t, s, func(c *Config) { c.CacheSize = 2 })
	for _, a := range []string{"198.18.0.2", "198.18.0.3", "198.18.0.4"} {
		if _, err := r.Lookup(context.Background(), mustID(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Stats().Entries; n != 2 {
		t.Fatalf("%d names cached, want the bound 2", n)
	}
	if n := len(r.CacheEntries()); n != 6 {
		t.Fatalf("%d cached answers, want 6 (2 names × IPSECKEY, TXT, KEY)", n)
	}
	// The names kept answer from the cache, every type of them.
	const kept = "4.0.18.198.in-addr.arpa."
	queries := func() int64 {
		return s.count(kept, dns.TypeIPSECKEY) + s.count(kept, dns.TypeTXT) + s.count(kept, dns.TypeKEY)
	}
	before := queries()
	r.Lookup(context.Background(), mustID(t, "198.18.0.4"))
	if after := queries(); before != 3 || after != before {
		t.Fatalf("a cached name: %d queries, then %d after asking again; want 3 and 3", before, after)
	}
	// The oldest name was evicted: asking again queries again.
	r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if n := s.count(target, dns.TypeIPSECKEY); n != 2 {
		t.Fatalf("evicted name asked %d times, want 2", n)
	}
}

// TestCacheExpiresPerType checks that the answers cached under one name
// expire each at its own TTL: the IPSECKEY (TTL 400) outlives the TXT
// and KEY NODATA answers (SOA minimum 300), so only those are asked again,
// and once all have expired the name is dropped.
func TestCacheExpiresPerType(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+" 400 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, clk := newTestResolver(t, s, nil)
	lookup := func() {
		t.Helper()
		if _, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2")); err != nil {
			t.Fatal(err)
		}
	}
	asked := func() [3]int64 {
		return [3]int64{s.count(target, dns.TypeIPSECKEY), s.count(target, dns.TypeTXT), s.count(target, dns.TypeKEY)}
	}
	lookup()
	clk.Advance(299 * time.Second)
	lookup()
	if got := asked(); got != [3]int64{1, 1, 1} {
		t.Fatalf("within every TTL: IPSECKEY, TXT, KEY asked %v times, want once each", got)
	}
	clk.Advance(2 * time.Second)
	lookup()
	if got := asked(); got != [3]int64{1, 2, 2} {
		t.Fatalf("NODATA expired, IPSECKEY not: asked %v, want [1 2 2]", got)
	}
	clk.Advance(100 * time.Second) // 401 s: the IPSECKEY expired, the NODATA asked at 301 s did not
	lookup()
	if got := asked(); got != [3]int64{2, 2, 2} {
		t.Fatalf("IPSECKEY expired: asked %v, want [2 2 2]", got)
	}
	if n := r.Stats().Entries; n != 1 {
		t.Fatalf("%d names cached, want 1", n)
	}
	// Everything expired: reading the name drops it.
	clk.Advance(time.Hour)
	if _, ok := r.cache.get(cacheKey{name: target, qtype: dns.TypeTXT}); ok {
		t.Fatal("an expired answer was served")
	}
	if n := r.Stats().Entries; n != 0 {
		t.Fatalf("%d names cached after every answer expired and the name was read, want 0", n)
	}
}

// TestLookupRemembersFailures: a query that failed is answered with its
// failure, without asking, for FailureTTL (RFC 9520); then asked again.
func TestLookupRemembersFailures(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true; s.servfail[target] = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, clk := newTestResolver(t, s, func(c *Config) { c.Timeout = 500 * time.Millisecond })
	lookup := func() error {
		_, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
		return err
	}
	if err := lookup(); !errors.Is(err, ErrDNSFailure) {
		t.Fatalf("SERVFAIL: err = %v, want ErrDNSFailure", err)
	}
	asked := s.count(target, dns.TypeIPSECKEY)
	s.set(func() { s.servfail[target] = false }) // the resolver recovers
	clk.Advance(4 * time.Second)
	err := lookup()
	if !errors.Is(err, ErrDNSFailure) || !strings.Contains(err.Error(), "RFC 9520") {
		t.Fatalf("4 s later: err = %v, want the remembered ErrDNSFailure", err)
	}
	if n := s.count(target, dns.TypeIPSECKEY); n != asked {
		t.Fatalf("a remembered failure was asked again: %d queries, want %d", n, asked)
	}
	clk.Advance(time.Second)
	if err := lookup(); err != nil {
		t.Fatalf("after FailureTTL (5 s): err = %v, want the key", err)
	}

	// FailureTTL < 0: every look-up asks.
	s.set(func() { s.servfail["9.0.18.198.in-addr.arpa."] = true })
	r, _ = newTestResolver(t, s, func(c *Config) { c.Timeout = 500 * time.Millisecond; c.FailureTTL = -1 })
	for range 2 {
		if _, err := r.Lookup(context.Background(), mustID(t, "198.18.0.9")); !errors.Is(err, ErrDNSFailure) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := s.count("9.0.18.198.in-addr.arpa.", dns.TypeIPSECKEY); n != 4 {
		t.Errorf("FailureTTL off: %d queries for two look-ups, want 4 (one retry each)", n)
	}
}
