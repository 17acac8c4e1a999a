package addrpool

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
)

// ErrExhausted is wrapped by Acquire when every address of the asked
// family is leased. The engine answers INTERNAL_ADDRESS_FAILURE.
var ErrExhausted = errors.New("address pool exhausted")

// ErrNoRange is wrapped by Acquire when the pool has no range of the asked
// family.
var ErrNoRange = errors.New("no range of this address family in the pool")

// Owner is what a lease is bound to: the SPIs of the IKE SA that asked
// for it (the engine keeps the lease when the SA is rekeyed).
type Owner struct {
	SPIi, SPIr [8]byte
}

func (o Owner) String() string { return fmt.Sprintf("%x_i:%x_r", o.SPIi[:], o.SPIr[:]) }

// Config configures a Pool.
type Config struct {
	// Ranges are the addresses to lease, IPv4 and IPv6 ones in any
	// order; they must not overlap. At least one is required.
	Ranges []Range
	// Clock stamps the leases; default clock.System.
	Clock clock.Clock
}

// Request asks for one address.
type Request struct {
	// Owner is the IKE SA the lease is bound to.
	Owner Owner
	// Peer is the identity the peer authenticated as; its previous
	// address is given back when free. Empty for anonymous peers (ID_NULL):
	// they are not remembered, since every NULL peer has the same ID.
	Peer string
	// IPv6 asks for an IPv6 address, else IPv4.
	IPv6 bool
	// Hint is the address the peer asked for (a non-empty
	// INTERNAL_IP4_ADDRESS), honoured when it is in the pool and free;
	// the zero Addr asks for any.
	Hint netip.Addr
}

// Lease is one address leased to an IKE SA.
type Lease struct {
	Addr  netip.Addr
	Owner Owner
	Peer  string
	Since time.Time
}

// Stats are the pool's counters. Sizes saturate at the largest uint64.
type Stats struct {
	SizeIPv4, SizeIPv6 uint64
	// Online is the number of addresses leased now; Remembered the
	// released ones kept for the identity that held them.
	Online, Remembered int
	// Acquired and Released count leases made and given back; Reused,
	// the acquisitions that gave a peer its previous address; Exhausted,
	// the requests refused because no address was free.
	Acquired, Released, Reused, Exhausted uint64
}

// Pool is a set of address ranges and their leases. Its methods are safe
// for concurrent use.
type Pool struct {
	ranges []Range
	clock  clock.Clock

	mu      sync.Mutex
	next    []netip.Addr              // per range: the first address never leased, invalid when used up
	online  map[netip.Addr]*Lease     // leased now
	byOwner map[Owner][]netip.Addr    // the addresses each IKE SA holds
	free    []netip.Addr              // released, oldest first
	holder  map[netip.Addr]string     // released address -> the peer that held it last
	last    map[peerFamily]netip.Addr // peer -> the address it held last
	stats   Stats
}

type peerFamily struct {
	peer string
	ipv6 bool
}

// New returns a pool over cfg.Ranges.
func New(cfg Config) (*Pool, error) {
	if len(cfg.Ranges) == 0 {
		return nil, errors.New("addrpool: no ranges")
	}
	p := &Pool{
		ranges: slices.Clone(cfg.Ranges), clock: cfg.Clock,
		online: map[netip.Addr]*Lease{}, byOwner: map[Owner][]netip.Addr{},
		holder: map[netip.Addr]string{}, last: map[peerFamily]netip.Addr{},
	}
	if p.clock == nil {
		p.clock = clock.System{}
	}
	for i, r := range p.ranges {
		if !r.First.IsValid() || !r.Last.IsValid() || r.First.Is4() != r.Last.Is4() || r.First.Compare(r.Last) > 0 {
			return nil, fmt.Errorf("addrpool: range %d (%v) is not a range of one family", i+1, r)
		}
		for _, o := range p.ranges[:i] {
			if o.Contains(r.First) || o.Contains(r.Last) || r.Contains(o.First) {
				return nil, fmt.Errorf("addrpool: ranges %v and %v overlap", o, r)
			}
		}
		p.next = append(p.next, r.First)
		if r.First.Is4() {
			p.stats.SizeIPv4 = addSat(p.stats.SizeIPv4, r.Size())
		} else {
			p.stats.SizeIPv6 = addSat(p.stats.SizeIPv6, r.Size())
		}
	}
	return p, nil
}

// Parse returns a pool over ranges written as ParseRange reads them.
func Parse(ranges []string, clk clock.Clock) (*Pool, error) {
	cfg := Config{Clock: clk}
	for _, s := range ranges {
		r, err := ParseRange(s)
		if err != nil {
			return nil, err
		}
		cfg.Ranges = append(cfg.Ranges, r)
	}
	return New(cfg)
}

func addSat(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// Ranges returns the pool's ranges.
func (p *Pool) Ranges() []Range { return slices.Clone(p.ranges) }

// Has reports whether the pool has a range of the family (IPv6 or not).
func (p *Pool) Has(ipv6 bool) bool {
	for _, r := range p.ranges {
		if r.First.Is6() == ipv6 {
			return true
		}
	}
	return false
}

// Contains reports whether a is one of the pool's addresses.
func (p *Pool) Contains(a netip.Addr) bool {
	for _, r := range p.ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// Acquire leases an address of the asked family to req.Owner. An owner
// that already holds one of that family gets it again (a retransmitted
// IKE_AUTH). The order of preference: the hint, the peer's previous
// address, a never-used address, the longest-released address no other
// peer is remembered for, then the longest-released one.
func (p *Pool) Acquire(req Request) (netip.Addr, error) {
	fam := "IPv4"
	if req.IPv6 {
		fam = "IPv6"
	}
	if !p.Has(req.IPv6) {
		return netip.Addr{}, fmt.Errorf("addrpool: %s address for %v: %w", fam, req.Owner, ErrNoRange)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.byOwner[req.Owner] {
		if a.Is6() == req.IPv6 {
			return a, nil
		}
	}
	a, reused := p.pick(req)
	if !a.IsValid() {
		p.stats.Exhausted++
		size := p.stats.SizeIPv4
		if req.IPv6 {
			size = p.stats.SizeIPv6
		}
		return netip.Addr{}, fmt.Errorf("addrpool: %s address for %v: all %d leased: %w", fam, req.Owner, size, ErrExhausted)
	}
	if i := slices.Index(p.free, a); i >= 0 {
		p.free = slices.Delete(p.free, i, i+1)
	}
	if prev, ok := p.holder[a]; ok {
		delete(p.holder, a)
		if pf := (peerFamily{prev, a.Is6()}); p.last[pf] == a {
			delete(p.last, pf)
		}
	}
	p.online[a] = &Lease{Addr: a, Owner: req.Owner, Peer: req.Peer, Since: p.clock.Now()}
	p.byOwner[req.Owner] = append(p.byOwner[req.Owner], a)
	if req.Peer != "" {
		pf := peerFamily{req.Peer, req.IPv6}
		if old, ok := p.last[pf]; ok && old != a && p.holder[old] == req.Peer {
			p.holder[old] = "" // the peer has a new address: forget its old one
		}
		p.last[pf] = a
	}
	p.stats.Acquired++
	if reused {
		p.stats.Reused++
	}
	return a, nil
}

// pick chooses the address for req; reused: it is the peer's previous
// one. Called with p.mu held.
func (p *Pool) pick(req Request) (a netip.Addr, reused bool) {
	// The hint: an address of the pool, not leased, and not remembered
	// for another peer.
	if h := req.Hint.Unmap(); h.IsValid() && h.Is6() == req.IPv6 && p.Contains(h) && p.online[h] == nil {
		if prev, released := p.holder[h]; !released || prev == "" || prev == req.Peer {
			return h, released && prev == req.Peer && prev != ""
		}
	}
	if req.Peer != "" {
		if l, ok := p.last[peerFamily{req.Peer, req.IPv6}]; ok && p.online[l] == nil {
			return l, true
		}
	}
	for i, r := range p.ranges {
		if r.First.Is6() != req.IPv6 {
			continue
		}
		// The cursor skips addresses a hint took ahead of it.
		for n := p.next[i]; n.IsValid(); n = p.next[i] {
			if n == r.Last {
				p.next[i] = netip.Addr{}
			} else {
				p.next[i] = n.Next()
			}
			if _, released := p.holder[n]; p.online[n] == nil && !released {
				return n, false
			}
		}
	}
	var oldest netip.Addr
	for _, f := range p.free {
		if f.Is6() != req.IPv6 {
			continue
		}
		if h := p.holder[f]; h == "" {
			return f, false
		}
		if !oldest.IsValid() {
			oldest = f
		}
	}
	return oldest, false
}

// Release gives back every address owner holds and returns them.
func (p *Pool) Release(owner Owner) []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := p.byOwner[owner]
	delete(p.byOwner, owner)
	for _, a := range addrs {
		l := p.online[a]
		delete(p.online, a)
		p.free = append(p.free, a)
		p.holder[a] = l.Peer
		p.stats.Released++
	}
	return addrs
}

// Move rebinds owner's leases to next, the IKE SA that replaced it in a
// rekey.
func (p *Pool) Move(owner, next Owner) {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := p.byOwner[owner]
	if len(addrs) == 0 {
		return
	}
	delete(p.byOwner, owner)
	p.byOwner[next] = append(p.byOwner[next], addrs...)
	for _, a := range addrs {
		p.online[a].Owner = next
	}
}

// Leases returns the current leases, ordered by address.
func (p *Pool) Leases() []Lease {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Lease, 0, len(p.online))
	for _, l := range p.online {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Online = len(p.online)
	for _, h := range p.holder {
		if h != "" {
			s.Remembered++
		}
	}
	return s
}
