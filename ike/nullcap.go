package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// NULL authentication (RFC 7619) lets anyone complete a handshake: the
// cheapest full attack on an OE responder is many completed NULL
// handshakes, each leaving an IKE SA and a CHILD SA (kernel state) behind
// until idle expiry. NullLimits bounds them.
//
// What is counted: IKE SAs we answered (the peer started them) whose
// peer authenticated with NULL, from IKE_AUTH until they die (an IKE
// rekey's successor stays counted). Not counted, and never evicted for a
// NULL one: SAs whose peer proved a key (raw key from DNS, PSK,
// certificate), whatever we authenticated with, and SAs we initiated (our
// own hosts' traffic made them; no outside sender can).
//
// When a new NULL SA would pass a cap, the NULL SA with the oldest
// activity (the peer's last IKE request, or the last ESP packet when
// NullLimits.LastTraffic says) among those idle at least MinIdle is
// deleted first, with a Delete to its peer and its CHILD SAs removed:
// from the same source for the per-source cap, from any for the total.
// If none is that idle, the new SA is refused with AUTHENTICATION_FAILED:
// it is the only IKE_AUTH error after which the initiator keeps no IKE SA
// (RFC 7296 §2.21.2); NO_ADDITIONAL_SAS there would leave it an IKE SA we
// do not have.

// Defaults of NullLimits; Engine.NullLimits' doc comments say why.
const (
	DefaultNullSAs          = 8192
	DefaultNullSAsPerSource = 32
	DefaultNullMinIdle      = time.Minute
)

// NullLimits bounds the IKE SAs of peers that authenticated with NULL.
type NullLimits struct {
	// Total is the most NULL SAs at once (default DefaultNullSAs; -1: no
	// limit). Each costs the IKE SA (a few KiB once established), a CHILD
	// SA in the data plane and the OE tunnel record: 10-20 KiB of heap
	// (TestNullFlood), so the default stays below 160 MiB, and still far
	// above the NULL peers a busy OE server has at once.
	Total int
	// PerSource is the most NULL SAs from one source: one IPv4 address or
	// one IPv6 /64, what one host (or one NAT) holds (default
	// DefaultNullSAsPerSource; -1: no limit). A host has one SA per peer;
	// a NAT hides many hosts.
	PerSource int
	// MinIdle is how long a NULL SA must have been idle to be evicted for
	// a new one (default DefaultNullMinIdle): an SA in use is never
	// evicted; when none is idle, the new one is refused.
	MinIdle time.Duration
	// LastTraffic, when set, is the last ESP packet through the CHILD SAs
	// of the IKE SA id with the peer at remote (zero: none, or unknown),
	// so that a tunnel carrying traffic is not idle although IKE is quiet.
	// It is asked only of eviction candidates, at most maxTrafficChecks
	// times per new NULL SA, with the new SA's lock held and no
	// engine-wide lock (oe's reads the data plane's counters).
	LastTraffic func(id SAID, remote netip.Addr) time.Time
}

func (l *NullLimits) setDefaults() {
	if l.Total == 0 {
		l.Total = DefaultNullSAs
	}
	if l.PerSource == 0 {
		l.PerSource = DefaultNullSAsPerSource
	}
	if l.MinIdle <= 0 {
		l.MinIdle = DefaultNullMinIdle
	}
}

// nullSource is the source a per-source cap counts by: the address for
// IPv4, the /64 for IPv6.
func nullSource(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// nullEntry is one counted NULL SA.
type nullEntry struct {
	sa     *ikeSA
	id     SAID
	remote netip.Addr
	source netip.Prefix
	// active is the last activity, Unix nanoseconds: set when counted and
	// at each request of the peer (noteActive, under the SA's lock), read
	// by the eviction scan under nullSAs.mu.
	active atomic.Int64
}

// maxTrafficChecks bounds the LastTraffic calls of one admission: a
// candidate that carried traffic gets its activity updated and the scan
// goes on, but a flood must not turn each admission into a data plane
// walk.
const maxTrafficChecks = 8

// nullLogEvery spaces the eviction and refusal log lines: a flood makes
// one per handshake.
const nullLogEvery = 5 * time.Second

// nullSAs counts the NULL SAs. Its mutex is a leaf: nothing else is
// locked while it is held.
type nullSAs struct {
	mu        sync.Mutex
	all       map[*ikeSA]*nullEntry
	bySource  map[netip.Prefix]int
	evictions uint64
	refusals  uint64
	// Log lines: the last one, and how many were not logged since.
	lastLog  time.Time
	unlogged uint64
}

// nullCounts are the NULL SA figures in Stats.
type nullCounts struct {
	sas                 int
	evictions, refusals uint64
}

func (n *nullSAs) counts() nullCounts {
	n.mu.Lock()
	defer n.mu.Unlock()
	return nullCounts{sas: len(n.all), evictions: n.evictions, refusals: n.refusals}
}

// addLocked counts sa from source.
func (n *nullSAs) addLocked(sa *ikeSA, source netip.Prefix, now time.Time) *nullEntry {
	if n.all == nil {
		n.all, n.bySource = make(map[*ikeSA]*nullEntry), make(map[netip.Prefix]int)
	}
	en := &nullEntry{sa: sa, id: sa.id(), remote: sa.remote.Addr(), source: source}
	en.active.Store(now.UnixNano())
	n.all[sa] = en
	n.bySource[source]++
	return en
}

// removeLocked stops counting sa; false if it was not counted.
func (n *nullSAs) removeLocked(sa *ikeSA) bool {
	en := n.all[sa]
	if en == nil {
		return false
	}
	delete(n.all, sa)
	if n.bySource[en.source]--; n.bySource[en.source] <= 0 {
		delete(n.bySource, en.source)
	}
	if len(n.all) == 0 {
		// Maps never shrink: let a flood's buckets go with it.
		n.all, n.bySource = nil, nil
	}
	return true
}

// remove stops counting sa (it died).
func (n *nullSAs) remove(sa *ikeSA) {
	n.mu.Lock()
	n.removeLocked(sa)
	n.mu.Unlock()
}

// oldestIdleLocked is the counted SA with the oldest activity no later
// than idleBefore, from source when it is valid; nil if none.
func (n *nullSAs) oldestIdleLocked(source netip.Prefix, idleBefore int64) *nullEntry {
	var best *nullEntry
	for _, en := range n.all {
		if source.IsValid() && en.source != source {
			continue
		}
		if a := en.active.Load(); a <= idleBefore && (best == nil || a < best.active.Load()) {
			best = en
		}
	}
	return best
}

// noteActive marks sa active now, if it is a counted NULL SA: the peer
// sent a request. Called with the SA's lock held.
func (sa *ikeSA) noteActive() {
	if sa.null != nil {
		sa.null.active.Store(sa.e.cfg.Clock.Now().UnixNano())
	}
}

// errNullLimit is the refusal of a NULL SA over a cap with none idle.
type errNullLimit struct {
	scope string // "from this source" or "in all"
	n     int
}

func (e *errNullLimit) Error() string {
	return fmt.Sprintf("ike: %d NULL-authenticated IKE SAs %s already, none idle: refused", e.n, e.scope)
}

// admitNull counts sa, a responder SA whose peer authenticated with NULL,
// against NullLimits before it is established: it evicts the oldest idle
// NULL SA of a cap it would pass, or refuses it (errNullLimit). Called
// with sa's lock held; the evictions run after it is released.
func (sa *ikeSA) admitNull() error {
	e := sa.e
	l := &e.cfg.NullLimits
	source := nullSource(sa.remote.Addr())
	var victims []*nullEntry
	checks := 0
	n := &e.null
	n.mu.Lock()
	for {
		now := e.cfg.Clock.Now()
		idleBefore := now.Add(-l.MinIdle).UnixNano()
		var scope netip.Prefix // invalid: the total
		var count int
		switch {
		case l.PerSource >= 0 && n.bySource[source] >= l.PerSource:
			scope, count = source, n.bySource[source]
		case l.Total >= 0 && len(n.all) >= l.Total:
			count = len(n.all)
		default:
			sa.null = n.addLocked(sa, source, now)
			n.mu.Unlock()
			for _, v := range victims {
				sa.post(func() { e.evictNull(v) })
			}
			return nil
		}
		v := n.oldestIdleLocked(scope, idleBefore)
		if v != nil && l.LastTraffic != nil {
			if checks == maxTrafficChecks {
				v = nil // too many in use to look further: refuse
			} else {
				checks++
				n.mu.Unlock()
				last := l.LastTraffic(v.id, v.remote)
				n.mu.Lock()
				if n.all[v.sa] != v {
					continue // gone meanwhile: count again
				}
				if t := last.UnixNano(); !last.IsZero() && t > idleBefore {
					if t > v.active.Load() {
						v.active.Store(t)
					}
					continue // it carries traffic: look again
				}
			}
		}
		if v == nil {
			n.refusals++
			err := &errNullLimit{scope: "in all", n: count}
			if scope.IsValid() {
				err.scope = "from " + scope.String()
			}
			n.logLocked(e, now, "ike: NULL SA refused: cap reached, none idle", "remote", sa.remote, "err", err)
			n.mu.Unlock()
			for _, v := range victims {
				sa.post(func() { e.evictNull(v) })
			}
			return err
		}
		n.removeLocked(v.sa)
		n.evictions++
		n.logLocked(e, now, "ike: NULL SA evicted for a new one", "evicted", v.id, "evicted_source", v.source,
			"idle", now.Sub(time.Unix(0, v.active.Load())).Round(time.Millisecond), "new_remote", sa.remote, "cap", capName(scope))
		victims = append(victims, v)
	}
}

func capName(scope netip.Prefix) string {
	if scope.IsValid() {
		return "per_source"
	}
	return "total"
}

// logLocked logs an eviction or refusal, at most one line per
// nullLogEvery, with how many went unlogged since the last.
func (n *nullSAs) logLocked(e *Engine, now time.Time, msg string, args ...any) {
	if !n.lastLog.IsZero() && now.Sub(n.lastLog) < nullLogEvery {
		n.unlogged++
		return
	}
	if n.unlogged > 0 {
		args = append(args, "not_logged_since_last", n.unlogged)
	}
	n.lastLog, n.unlogged = now, 0
	e.log.Info(msg, append(args, "evictions", n.evictions, "refusals", n.refusals)...)
}

// evictNull deletes the evicted SA v, telling its peer; its CHILD SAs
// go when the peer answers or the request gives up (deleteLocked). It is
// posted by the admitting SA, to run once that SA's lock is released.
func (e *Engine) evictNull(v *nullEntry) {
	sa := e.findSA(v.id)
	if sa == nil {
		return // it died meanwhile
	}
	sa.lock()
	defer sa.unlock()
	switch sa.state {
	case stEstablished, stRekeyed:
		sa.deleteLocked(nil)
	case stDead, stDeleting:
	default:
		sa.die(errNullEvicted, false)
	}
}

// errNullEvicted is why an evicted NULL SA that was not established died.
var errNullEvicted = errors.New("ike: NULL SA evicted over a cap")

// inheritNull counts n, the successor of sa (IKE rekey), if sa is
// counted: a rekey must not take an SA out of the caps. Called with sa's
// lock held.
func (sa *ikeSA) inheritNull(n *ikeSA) {
	if sa.null == nil {
		return
	}
	nl := &sa.e.null
	nl.mu.Lock()
	if nl.all[sa] != nil {
		n.null = nl.addLocked(n, sa.null.source, sa.e.cfg.Clock.Now())
		n.null.active.Store(sa.null.active.Load())
	}
	nl.mu.Unlock()
}
