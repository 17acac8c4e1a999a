package dnskey

import (
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// Clock gives the time; tests inject a fake one to expire cache entries
// without sleeping.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// answerKind classifies a DNS answer for one name and type.
type answerKind uint8

const (
	answerPositive answerKind = iota // NOERROR with records of the type
	answerNoData                     // NOERROR, none of the type (RFC 2308 NODATA)
	answerNXDomain                   // the name does not exist
)

func (k answerKind) String() string {
	switch k {
	case answerPositive:
		return "records"
	case answerNoData:
		return "NODATA"
	case answerNXDomain:
		return "NXDOMAIN"
	}
	return "?"
}

// rrsetAnswer is the parsed answer for one (name, type): what is cached.
// It is shared between readers and never modified after it is made.
type rrsetAnswer struct {
	qtype   uint16
	kind    answerKind
	keys    []PeerKey // TTL unset: filled in from expires when read
	skipped []SkippedRecord
	ignored int  // TXT records that are not X-IPsec-Server
	secure  bool // AD bit
	expires time.Time
	// noCache marks a negative answer without an SOA, which RFC 2308 §5
	// says must not be cached.
	noCache bool
}

type cacheKey struct {
	name  string // lower case, fully qualified
	qtype uint16
}

func (k cacheKey) String() string { return k.name + " " + dns.TypeToString[k.qtype] }

// answerCache is a size-bounded LRU of answers, each with its own expiry.
// The expirable LRU of golang-lru has one TTL for all entries, no clock to
// inject and a goroutine that never stops, hence the plain one.
type answerCache struct {
	lru   *lru.Cache[cacheKey, *rrsetAnswer]
	clock Clock
}

func newAnswerCache(size int, clock Clock) (*answerCache, error) {
	c, err := lru.New[cacheKey, *rrsetAnswer](size)
	if err != nil {
		return nil, err
	}
	return &answerCache{lru: c, clock: clock}, nil
}

// get returns a live entry; an expired one is removed and reported missing.
func (c *answerCache) get(k cacheKey) (*rrsetAnswer, bool) {
	a, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if !c.clock.Now().Before(a.expires) {
		c.lru.Remove(k)
		return nil, false
	}
	return a, true
}

func (c *answerCache) add(k cacheKey, a *rrsetAnswer) {
	if a.noCache {
		return
	}
	c.lru.Add(k, a)
}

// Stats are the resolver's counters since it was made.
type Stats struct {
	Hits      uint64 `json:"hits"`      // answers served from the cache (positive or negative)
	Misses    uint64 `json:"misses"`    // answers not in the cache (or expired)
	Coalesced uint64 `json:"coalesced"` // misses that joined a query already in flight
	Queries   uint64 `json:"queries"`   // DNS messages sent (attempts, retries, TCP fallbacks)
	Errors    uint64 `json:"errors"`    // (name, type) fetches that ended in ErrDNSFailure
	Entries   int    `json:"entries"`   // entries in the cache now (expired ones included until read)
}

type counters struct {
	hits, misses, coalesced, queries, errors atomic.Uint64
}
