package dnskey

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// TestFlush: flushing a name makes its next look-up ask the server again,
// and leaves other names cached; FlushAll empties the cache.
func TestFlush(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, testKeys().ed.Public())
	other := "3.0.18.198.in-addr.arpa."
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+key, other+" 300 IN IPSECKEY 10 0 4 . "+key)
	r, _ := newTestResolver(t, s, nil)
	lookup := func(id string) {
		t.Helper()
		if _, err := r.Lookup(context.Background(), mustID(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	lookup("198.18.0.2")
	lookup("198.18.0.3")
	n, err := r.Flush(mustID(t, "198.18.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // IPSECKEY, and TXT and KEY cached as NODATA
		t.Errorf("Flush dropped %d entries, want 3", n)
	}
	if len(r.CacheEntries()) != 3 {
		t.Errorf("after Flush: %d entries cached, want the other name's 3", len(r.CacheEntries()))
	}
	lookup("198.18.0.2")
	lookup("198.18.0.3")
	if q := s.count(target, dns.TypeIPSECKEY); q != 2 {
		t.Errorf("flushed name asked %d times, want 2", q)
	}
	if q := s.count(other, dns.TypeIPSECKEY); q != 1 {
		t.Errorf("other name asked %d times, want 1 (still cached)", q)
	}
	if n := r.FlushAll(); n != 6 {
		t.Errorf("FlushAll dropped %d entries, want 6", n)
	}
	if len(r.CacheEntries()) != 0 {
		t.Errorf("after FlushAll: %d entries cached", len(r.CacheEntries()))
	}
	if n, _ := r.Flush(mustID(t, "198.18.0.9")); n != 0 {
		t.Errorf("Flush of a name never looked up dropped %d", n)
	}
}
