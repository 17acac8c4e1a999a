package dnskey

import (
	"testing"
	"time"
)

func TestCacheEntries(t *testing.T) {
	k := testKeys()
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, k.ed.Public()))
	r, clk := newTestResolver(t, s, nil)
	if _, err := r.Lookup(t.Context(), mustID(t, "198.18.0.2")); err != nil {
		t.Fatal(err)
	}
	es := r.CacheEntries()
	if len(es) != 3 {
		t.Fatalf("entries = %+v, want IPSECKEY, KEY and TXT", es)
	}
	var found bool
	for _, e := range es {
		if e.Type == SourceIPSECKEY {
			found = true
			if e.Answer != AnswerRecords || len(e.Keys) != 1 || !e.Secure || e.Expires != 300*time.Second {
				t.Errorf("IPSECKEY entry = %+v", e)
			}
		} else if e.Answer != AnswerNoData {
			t.Errorf("%s entry = %+v, want NODATA", e.Type, e)
		}
	}
	if !found {
		t.Error("no IPSECKEY entry")
	}
	clk.Advance(301 * time.Second)
	for _, e := range r.CacheEntries() {
		if e.Type == SourceIPSECKEY {
			t.Errorf("expired entry listed: %+v", e)
		}
	}
}

// TestAnswerMatchesCache: the exported Answer values are the cache's own
// answer kinds, one for one.
func TestAnswerMatchesCache(t *testing.T) {
	for k, want := range map[answerKind]Answer{answerPositive: AnswerRecords, answerNoData: AnswerNoData, answerNXDomain: AnswerNXDomain} {
		if Answer(k) != want || want.String() != k.String() {
			t.Errorf("answer kind %v: Answer %v (%q), want %v", k, Answer(k), want.String(), want)
		}
	}
}
