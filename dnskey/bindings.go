package dnskey

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/oemesh/oemesh/internal/clock"
)

// BindingsConfig bounds a Bindings store. Zero values take the defaults.
type BindingsConfig struct {
	// Max is the number of addresses held (default 10,000); binding one
	// more forgets the least recently used.
	Max int
	// MinTTL and MaxTTL clamp the TTL a binding is made with (defaults
	// 30s and 1h): a 0-second answer still lets the first flow use its
	// binding, and a week-long one does not pin a key that was withdrawn.
	MinTTL, MaxTTL time.Duration
	// PendingWait bounds how long Await waits for a pending address
	// (Pend) to settle, counted from when it was marked: a name look-up
	// that takes longer leaves OE to proceed without it. Default 2s (the
	// daemon passes dns.timeout, what one look-up attempt may take).
	PendingWait time.Duration
	// Clock defaults to the system clock; tests expire bindings with a
	// fake one.
	Clock clock.Clock
	// NameOnly keeps bindings without a key too: the name alone, which
	// certificate OE holds the peer's certificate to (oe.trust_certificates).
	// Without it, Bind refuses a look-up that found no key.
	NameOnly bool
}

// Binding says that an address was found under a forward name: the
// address's peer is expected to prove the identity @Name with one of
// Keys, which were published at Name (RFC 4025 IPSECKEY, possibly naming
// a gateway).
type Binding struct {
	Addr netip.Addr
	// Name is the forward name, fully qualified and in lower case.
	Name string
	// Keys are the usable records found at Name, lowest precedence
	// first (Result.Keys of the look-up that made the binding).
	Keys []PeerKey
	// Secure is set when every key came from a DNSSEC-validated answer.
	Secure bool
	// Added is when the binding was made; Expires when it ends.
	Added, Expires time.Time
}

// ID is the identity the peer at b.Addr must prove: @Name.
func (b Binding) ID() ID { return ID{FQDN: b.Name} }

// BindingStats are a Bindings store's counters since it was made.
type BindingStats struct {
	Added    uint64 // addresses bound that had no live binding
	Replaced uint64 // addresses bound again while bound (by the same name or another)
	Expired  uint64 // bindings found past their TTL and dropped
	Evicted  uint64 // bindings forgotten to stay within Max
	Hits     uint64 // Lookup calls that found a live binding
	Misses   uint64 // Lookup calls that found none
	Entries  int    // addresses held now (expired ones included until read)

	// The pending addresses (pending.go).
	Pended         uint64 // addresses marked pending (Pend) that were not already
	Waits          uint64 // Await calls that found their address pending and waited
	WaitsBound     uint64 // waits that ended with a binding
	WaitsNone      uint64 // waits that ended with the look-up finding none
	WaitsTimedOut  uint64 // waits that reached PendingWait unsettled
	WaitsCancelled uint64 // waits whose context ended first
	Pending        int    // addresses pending now
}

// Bindings maps addresses to the forward names they were looked up by and
// the keys published there: what a local stub resolver or unbound's
// ipsecmod hook learnt from an application's name look-up, so that OE to
// the address can use the name's key instead of the reverse zone's,
// which few people control.
//
// It is an LRU bounded by BindingsConfig.Max whose entries each expire
// after their own (clamped) TTL. An address bound by two names keeps the
// last: the most recent look-up is what the application is about to
// connect to. Addresses whose look-up is still running can be marked
// pending (Pend), so that OE waits for their binding (Await, pending.go).
// It is safe for concurrent use.
type Bindings struct {
	cfg BindingsConfig

	mu      sync.Mutex
	lru     *simplelru.LRU[netip.Addr, *boundName]
	pending map[netip.Addr]*pendingAddr // addresses whose look-up runs (pending.go)

	added, replaced, expired, evicted, hits, misses                     atomic.Uint64
	pended, waits, waitsBound, waitsNone, waitsTimedOut, waitsCancelled atomic.Uint64
}

// boundName is what one Bind call records, shared by every address it
// binds: a name with many addresses costs one copy of its keys.
type boundName struct {
	name           string
	keys           []PeerKey
	secure         bool
	added, expires time.Time
}

// NewBindings checks cfg, fills in defaults and returns an empty store.
func NewBindings(cfg BindingsConfig) (*Bindings, error) {
	if cfg.Max == 0 {
		cfg.Max = 10000
	}
	if cfg.Max < 0 {
		return nil, fmt.Errorf("dnskey: bindings maximum %d is negative", cfg.Max)
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = 30 * time.Second
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.PendingWait < 0 {
		return nil, fmt.Errorf("dnskey: bindings pending wait %v is negative", cfg.PendingWait)
	}
	if cfg.PendingWait == 0 {
		cfg.PendingWait = 2 * time.Second
	}
	if cfg.MinTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("dnskey: bindings min TTL %v exceeds max TTL %v", cfg.MinTTL, cfg.MaxTTL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	l, err := simplelru.NewLRU[netip.Addr, *boundName](cfg.Max, nil)
	if err != nil {
		return nil, fmt.Errorf("dnskey: bindings: %w", err)
	}
	return &Bindings{cfg: cfg, lru: l, pending: map[netip.Addr]*pendingAddr{}}, nil
}

// ErrBadBinding is wrapped by every error of Bind: the input, not the
// store, is at fault.
var ErrBadBinding = errors.New("bad binding")

// Bind records that name resolved to addrs and publishes keys (the Result
// of Resolver.Lookup for @name, or keys read from records handed over by
// a resolver), for ttl clamped to the configured bounds. Every address
// is bound; one that was bound already is bound anew (last wins). Only
// keys that carry a public key count: records naming a gateway without a
// key are kept beside them, but a binding needs at least one key. Keys
// are held in a look-up's order (precedence first, sortKeys), whatever
// the order they came in: the first one's gateway is where IKE goes.
func (b *Bindings) Bind(name string, addrs []netip.Addr, keys Result, ttl time.Duration) error {
	n, err := canonicalName(name)
	if err != nil {
		return fmt.Errorf("dnskey: bind %q: %w: %w", name, ErrBadBinding, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("dnskey: bind %s: %w: no addresses", n, ErrBadBinding)
	}
	for _, a := range addrs {
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" {
			return fmt.Errorf("dnskey: bind %s: %w: address %q is invalid, unspecified or zoned", n, ErrBadBinding, a)
		}
	}
	withKey := 0
	secure := true
	for _, k := range keys.Keys {
		if k.PublicKey != nil {
			withKey++
		}
		secure = secure && k.Secure
	}
	secure = secure && len(keys.Keys) > 0 // a name alone vouches for nothing
	if withKey == 0 && !b.cfg.NameOnly {
		return fmt.Errorf("dnskey: bind %s: %w: no public key among %d record(s)", n, ErrBadBinding, len(keys.Keys))
	}
	if ttl < 0 {
		return fmt.Errorf("dnskey: bind %s: %w: negative TTL %v", n, ErrBadBinding, ttl)
	}
	now := b.cfg.Clock.Now()
	e := &boundName{name: n, keys: slices.Clone(keys.Keys), secure: secure, added: now,
		expires: now.Add(min(max(ttl, b.cfg.MinTTL), b.cfg.MaxTTL))}
	sortKeys(e.keys)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range addrs {
		a = a.Unmap()
		if old, ok := b.lru.Peek(a); ok && now.Before(old.expires) {
			b.replaced.Add(1)
		} else {
			b.added.Add(1)
		}
		if b.lru.Add(a, e) {
			b.evicted.Add(1)
		}
		b.settleBound(a)
	}
	return nil
}

// Lookup returns the live binding of addr. An expired one is dropped and
// reported missing.
func (b *Bindings) Lookup(addr netip.Addr) (Binding, bool) {
	addr = addr.Unmap()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.lru.Get(addr)
	if ok && !b.cfg.Clock.Now().Before(e.expires) {
		b.lru.Remove(addr)
		b.expired.Add(1)
		ok = false
	}
	if !ok {
		b.misses.Add(1)
		return Binding{}, false
	}
	b.hits.Add(1)
	return e.binding(addr), true
}

// Bindings returns the live bindings, by name and then address, for
// display; expired ones are dropped. It does not count as a look-up.
func (b *Bindings) Bindings() []Binding {
	now := b.cfg.Clock.Now()
	b.mu.Lock()
	var out []Binding
	for _, a := range b.lru.Keys() {
		e, _ := b.lru.Peek(a)
		if !now.Before(e.expires) {
			b.lru.Remove(a)
			b.expired.Add(1)
			continue
		}
		out = append(out, e.binding(a))
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y Binding) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return x.Addr.Compare(y.Addr)
	})
	return out
}

// Stats returns the counters.
func (b *Bindings) Stats() BindingStats {
	b.mu.Lock()
	n, p := b.lru.Len(), len(b.pending)
	b.mu.Unlock()
	return BindingStats{Added: b.added.Load(), Replaced: b.replaced.Load(), Expired: b.expired.Load(),
		Evicted: b.evicted.Load(), Hits: b.hits.Load(), Misses: b.misses.Load(), Entries: n,
		Pended: b.pended.Load(), Waits: b.waits.Load(), WaitsBound: b.waitsBound.Load(), WaitsNone: b.waitsNone.Load(),
		WaitsTimedOut: b.waitsTimedOut.Load(), WaitsCancelled: b.waitsCancelled.Load(), Pending: p}
}

func (e *boundName) binding(a netip.Addr) Binding {
	return Binding{Addr: a, Name: e.name, Keys: slices.Clone(e.keys), Secure: e.secure, Added: e.added, Expires: e.expires}
}
