package dnskey

import (
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// CacheEntry is one cached answer, as `oemesh peers` shows it.
type CacheEntry struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Answer string    `json:"answer"` // records, NODATA or NXDOMAIN
	Keys   []PeerKey `json:"keys,omitempty"`
	// Fingerprints are the keys' fingerprints, in the order of Keys (the
	// keys themselves are not in the JSON form).
	Fingerprints []string      `json:"fingerprints,omitempty"`
	Secure       bool          `json:"secure"`
	Expires      time.Duration `json:"expires_in"`
}

// CacheEntries lists the live cache entries, by name and type. It does not
// count as a use for the LRU order.
func (r *Resolver) CacheEntries() []CacheEntry {
	now := r.cfg.Clock.Now()
	var out []CacheEntry
	r.cache.each(func(k cacheKey, a *rrsetAnswer) {
		if !now.Before(a.expires) {
			return
		}
		ttl := a.expires.Sub(now).Truncate(time.Second)
		e := CacheEntry{Name: k.name, Type: dns.TypeToString[k.qtype], Answer: a.kind.String(), Secure: a.secure, Expires: ttl}
		for _, pk := range a.keys() {
			pk.TTL = ttl
			e.Keys = append(e.Keys, pk)
			e.Fingerprints = append(e.Fingerprints, pk.Fingerprint())
		}
		out = append(out, e)
	})
	slices.SortFunc(out, func(a, b CacheEntry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}
