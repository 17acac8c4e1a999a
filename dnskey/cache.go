package dnskey

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/internal/clock"
)

//go:generate go tool stringer -type=answerKind -linecomment

// answerKind classifies a DNS answer for one name and type.
type answerKind uint8

// answerPositive: NOERROR with records of the type. answerNoData:
// NOERROR, none of the type (RFC 2308 NODATA). answerNXDomain: the name
// does not exist. The line comments are the names String gives.
const (
	answerPositive answerKind = iota // records
	answerNoData                     // NODATA
	answerNXDomain                   // NXDOMAIN
)

// rrsetAnswer is the parsed answer for one (name, type): what is cached.
// It is small (the cache holds three per peer: IPSECKEY, TXT and KEY, and
// the last two are usually NODATA); keys and skipped records hang off it
// only when there are some. Cached answers are never modified.
type rrsetAnswer struct {
	expires time.Time
	data    *rrsetData // nil for an answer with neither keys nor skipped records
	ignored uint32     // TXT records that are not X-IPsec-Server
	kind    answerKind
	secure  bool // AD bit
	// noCache marks a negative answer without an SOA, which RFC 2308 §5
	// says must not be cached.
	noCache bool
}

type rrsetData struct {
	keys    []PeerKey // TTL unset: filled in from expires when read
	skipped []SkippedRecord
}

func (a *rrsetAnswer) keys() []PeerKey {
	if a.data == nil {
		return nil
	}
	return a.data.keys
}

func (a *rrsetAnswer) skipped() []SkippedRecord {
	if a.data == nil {
		return nil
	}
	return a.data.skipped
}

func (a *rrsetAnswer) addKey(k PeerKey) {
	if a.data == nil {
		a.data = new(rrsetData)
	}
	a.data.keys = append(a.data.keys, k)
}

func (a *rrsetAnswer) addSkipped(s SkippedRecord) {
	if a.data == nil {
		a.data = new(rrsetData)
	}
	a.data.skipped = append(a.data.skipped, s)
}

type cacheKey struct {
	name  string // lower case, fully qualified
	qtype uint16
}

func (k cacheKey) String() string { return k.name + " " + dns.TypeToString[k.qtype] }

// typeSlot is the index of qtype in queryTypes, the slot of its answer in
// a nameAnswers.
func typeSlot(qtype uint16) (int, bool) {
	for i, t := range queryTypes {
		if t == qtype {
			return i, true
		}
	}
	return 0, false
}

// nameAnswers are the cached answers for one name, a slot per query type
// (nil: not cached). One LRU entry per name, not per (name, type), keeps
// the cache's own overhead to one list element and one map slot per peer.
type nameAnswers [len(queryTypes)]*rrsetAnswer

// answerCache is a size-bounded LRU of names, each answer with its own
// expiry. The expirable LRU of golang-lru has one TTL for all entries, no
// clock to inject and a goroutine that never stops, hence the plain one.
// Answers for one name arrive from parallel fetches, so updates are
// read-modify-write under mu.
type answerCache struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[string, nameAnswers]
	clock clock.Clock
}

func newAnswerCache(size int, clk clock.Clock) (*answerCache, error) {
	c, err := simplelru.NewLRU[string, nameAnswers](size, nil)
	if err != nil {
		return nil, err
	}
	return &answerCache{lru: c, clock: clk}, nil
}

// get returns a live answer. An expired one is reported missing, and a
// name whose answers have all expired is removed.
func (c *answerCache) get(k cacheKey) (*rrsetAnswer, bool) {
	i, ok := typeSlot(k.qtype)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	all, ok := c.lru.Get(k.name)
	if !ok {
		return nil, false
	}
	now := c.clock.Now()
	if a := all[i]; a != nil && now.Before(a.expires) {
		return a, true
	}
	for _, a := range all {
		if a != nil && now.Before(a.expires) {
			return nil, false
		}
	}
	c.lru.Remove(k.name)
	return nil, false
}

func (c *answerCache) add(k cacheKey, a *rrsetAnswer) {
	i, ok := typeSlot(k.qtype)
	if !ok || a.noCache {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	all, _ := c.lru.Peek(k.name)
	all[i] = a
	c.lru.Add(k.name, all)
}

// len returns the number of names cached.
func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// each calls f for every cached answer, expired ones included, without
// touching the LRU order.
func (c *answerCache) each(f func(k cacheKey, a *rrsetAnswer)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.lru.Keys() {
		all, _ := c.lru.Peek(name)
		for i, a := range all {
			if a != nil {
				f(cacheKey{name: name, qtype: queryTypes[i]}, a)
			}
		}
	}
}

// Stats are the resolver's counters since it was made.
type Stats struct {
	Hits      uint64 // answers served from the cache (positive or negative)
	Misses    uint64 // answers not in the cache (or expired)
	Coalesced uint64 // misses that joined a query already in flight
	Queries   uint64 // DNS messages sent (attempts, retries, TCP fallbacks)
	Errors    uint64 // (name, type) fetches that ended in ErrDNSFailure
	Entries   int    // names in the cache now, each with its IPSECKEY, TXT and KEY answers (expired ones included until read)
}

type counters struct {
	hits, misses, coalesced, queries, errors atomic.Uint64
}
