package ike

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// sourceLimiter bounds what one source may cost the responder per second
// (a token bucket per source), in a table of fixed size: memory does not
// grow with the number of sources. A source is an IPv4 address or an
// IPv6 /64 (what one host or one subscriber line holds).
//
// Sources share a slot when their hashes collide; a source that finds its
// slot taken by another replaces it with a full bucket of its own. So a
// flood from many addresses can never spend a bucket on a legitimate
// source's behalf: at worst it resets the bucket of a source that was
// itself being limited. Like strongSwan's cookie_threshold_ip and
// block_threshold, it is aimed at one address sending much; a spoofed
// flood from a whole prefix is what cookies are for.
type sourceLimiter struct {
	rate, burst float64
	seed        maphash.Seed

	mu    sync.Mutex
	slots []sourceSlot
}

type sourceSlot struct {
	key    sourceID // the source; the zero value: empty
	tokens float64
	last   time.Time
}

// newSourceLimiter allows rate events per second per source, burst at
// once, in a table of size slots (rounded up to a power of two).
func newSourceLimiter(rate float64, burst, size int) *sourceLimiter {
	n := 1
	for n < size {
		n <<= 1
	}
	return &sourceLimiter{rate: rate, burst: float64(max(burst, 1)), seed: maphash.MakeSeed(), slots: make([]sourceSlot, n)}
}

// sourceID is a source as a table key: an IPv4 address, or an IPv6
// address's /64, with its family.
type sourceID struct {
	prefix uint64
	family uint8 // 4 or 6; 0 in an empty slot
}

func sourceKey(a netip.Addr) sourceID {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return sourceID{uint64(binary.BigEndian.Uint32(b[:])), 4}
	}
	b := a.As16()
	return sourceID{binary.BigEndian.Uint64(b[:8]), 6}
}

// allow spends one token of a's bucket at now, and reports whether there
// was one.
func (l *sourceLimiter) allow(a netip.Addr, now time.Time) bool {
	key := sourceKey(a)
	i := maphash.Comparable(l.seed, key) & uint64(len(l.slots)-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[i]
	if s.key != key {
		*s = sourceSlot{key: key, tokens: l.burst, last: now}
	} else if dt := now.Sub(s.last); dt > 0 {
		s.tokens = min(l.burst, s.tokens+dt.Seconds()*l.rate)
		s.last = now
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}
