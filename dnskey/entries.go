package dnskey

import (
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Answer is what a cached DNS answer for one name and type held.
type Answer uint8

// The kinds of cached answers.
const (
	AnswerRecords  Answer = iota // NOERROR with records of the type
	AnswerNoData                 // NOERROR, none of the type (RFC 2308 NODATA)
	AnswerNXDomain               // the name does not exist
)

// String returns "records", "NODATA" or "NXDOMAIN".
func (a Answer) String() string { return answerKind(a).String() }

// CacheEntry is one cached answer: a name, a record type and what DNS said.
type CacheEntry struct {
	Name string
	// Type is the record type queried.
	Type Source
	// Answer is what the answer held.
	Answer Answer
	// Keys are the usable records, each with TTL set to what is left of
	// the entry's lifetime.
	Keys []PeerKey
	// Secure is the answer's AD bit.
	Secure bool
	// Expires is how long the entry stays cached (truncated to the second).
	Expires time.Duration
}

// qtypeSource maps a query type to the record source it yields.
func qtypeSource(qtype uint16) Source {
	switch qtype {
	case dns.TypeTXT:
		return SourceTXT
	case dns.TypeKEY:
		return SourceKEY
	}
	return SourceIPSECKEY
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
		e := CacheEntry{Name: k.name, Type: qtypeSource(k.qtype), Answer: Answer(a.kind), Secure: a.secure, Expires: ttl}
		for _, pk := range a.keys() {
			pk.TTL = ttl
			e.Keys = append(e.Keys, pk)
		}
		out = append(out, e)
	})
	slices.SortFunc(out, func(a, b CacheEntry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type.String(), b.Type.String())
	})
	return out
}
