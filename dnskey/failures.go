package dnskey

import (
	"fmt"
	"sync"
	"time"
)

// failureMemory remembers the (name, type) queries that failed, each until
// its FailureTTL has passed, and answers them with the same failure
// meanwhile (RFC 9520). It is bounded like the answer cache: when full,
// expired entries go, and a new failure finds no room if none has expired.
type failureMemory struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]failedQuery
}

type failedQuery struct {
	at, until time.Time
	err       error
}

// get returns the remembered failure of k, if it has not expired.
func (f *failureMemory) get(k cacheKey, now time.Time) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(q.until) {
		delete(f.m, k)
		return nil, false
	}
	return fmt.Errorf("%w (failed %v ago: not asked again for %v, RFC 9520)",
		q.err, now.Sub(q.at).Round(time.Millisecond), q.until.Sub(now).Round(time.Millisecond)), true
}

// add remembers that k failed with err at now, for ttl.
func (f *failureMemory) add(k cacheKey, err error, now time.Time, ttl time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[cacheKey]failedQuery{}
	}
	if _, ok := f.m[k]; !ok && len(f.m) >= f.max {
		for key, q := range f.m {
			if !now.Before(q.until) {
				delete(f.m, key)
			}
		}
		if len(f.m) >= f.max {
			return
		}
	}
	f.m[k] = failedQuery{at: now, until: now.Add(ttl), err: err}
}
