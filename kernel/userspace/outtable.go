package userspace

import (
	"encoding/binary"
	"maps"
	"net/netip"

	"github.com/gaissmai/bart"
)

// outTable is the outbound index: the pairs by remote selector, newest
// first, looked up by longest prefix. It is part of a snapshot: modify
// returns a new one and leaves the old as it was.
//
// Host selectors (a /32 or /128, one per OE peer) are kept apart from the
// trie, in maps sharded like spiIndex. In the trie every persistent
// change copies the nodes on its path and, with each, every leaf and
// fringe below it: a host route's node holds up to 256 hosts, so with
// 10,000 peers an install and a delete cost about 540 allocations and
// 30 µs (BenchmarkSnapshotInstallDense). A shard is about 40 hosts at
// 10,000 peers, copied in a few allocations. A host is the longest prefix
// there is for its address, so Lookup asks the hosts first and the trie
// after, as the trie alone would answer.
type outTable struct {
	nets *bart.Table[[]*pair] // selectors wider than one address
	// hosts4 and hosts6 are replaced, never written into, once a
	// snapshot holds them (modify copies the array it changes), so that a
	// snapshot stays small.
	hosts4 *[hostShards]map[uint32][]*pair
	hosts6 *[hostShards]map[[16]byte][]*pair // 4in6 addresses too, as the trie keeps them apart from IPv4
	nhost  int                               // hosts held: with none, Lookup goes straight to the trie
}

// hostShards: 256, so that at 10,000 peers a change copies a map of about
// 40 hosts (shards of 150 cost more than the trie's path).
const hostShards = 256

func shard4(a uint32) int { return int((a * 0x9e3779b1) >> 24) } // Fibonacci hashing, as shardOf

func shard6(a [16]byte) int {
	return shard4(binary.BigEndian.Uint32(a[12:]) ^ binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[4:]) ^ binary.BigEndian.Uint32(a[:4]))
}

func isHost(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// key4 is an IPv4 address as the key of hosts4.
func key4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func newOutTable() outTable {
	return outTable{nets: new(bart.Table[[]*pair]), hosts4: new([hostShards]map[uint32][]*pair), hosts6: new([hostShards]map[[16]byte][]*pair)}
}

// Lookup returns the pairs of the longest selector holding dst.
func (o *outTable) Lookup(dst netip.Addr) ([]*pair, bool) {
	if o.nhost > 0 {
		if ps, ok := o.host(dst); ok {
			return ps, true
		}
	}
	return o.nets.Lookup(dst)
}

func (o *outTable) host(a netip.Addr) ([]*pair, bool) {
	if a.Is4() {
		k := key4(a)
		ps, ok := o.hosts4[shard4(k)][k]
		return ps, ok
	}
	k := a.As16()
	ps, ok := o.hosts6[shard6(k)][k]
	return ps, ok
}

// Get returns the pairs of selector p (masked).
func (o *outTable) Get(p netip.Prefix) ([]*pair, bool) {
	if isHost(p) {
		return o.host(p.Addr())
	}
	return o.nets.Get(p)
}

// Insert sets the pairs of selector p in place: for a table being built,
// that no snapshot holds yet.
func (o *outTable) Insert(p netip.Prefix, ps []*pair) {
	if !isHost(p) {
		o.nets.Insert(p, ps)
		return
	}
	if _, ok := o.host(p.Addr()); !ok {
		o.nhost++
	}
	a := p.Addr()
	if a.Is4() {
		k := key4(a)
		setIn(&o.hosts4[shard4(k)], k, ps)
		return
	}
	k := a.As16()
	setIn(&o.hosts6[shard6(k)], k, ps)
}

func setIn[K comparable](m *map[K][]*pair, k K, ps []*pair) {
	if *m == nil {
		*m = map[K][]*pair{}
	}
	(*m)[k] = ps
}

// modify returns the table with the pairs of selector p (masked) changed
// by f, as bart's ModifyPersist: f gets the pairs and whether there were
// any, and returns the new ones or del to remove the selector. o is left
// as it was.
func (o outTable) modify(p netip.Prefix, f func(old []*pair, ok bool) (ps []*pair, del bool)) outTable {
	if !isHost(p) {
		o.nets = o.nets.ModifyPersist(p, f)
		return o
	}
	a := p.Addr()
	var d int
	if a.Is4() {
		k := key4(a)
		o.hosts4, d = modifyHosts(o.hosts4, shard4(k), k, f)
	} else {
		k := a.As16()
		o.hosts6, d = modifyHosts(o.hosts6, shard6(k), k, f)
	}
	o.nhost += d
	return o
}

// modifyHosts returns h with k's pairs, in shard i, changed by f, and the
// change in the count of hosts. h itself is left as it was (a snapshot may
// be reading it): a changed shard is a copy of the map, in a copy of the
// array.
func modifyHosts[K comparable](h *[hostShards]map[K][]*pair, i int, k K, f func([]*pair, bool) ([]*pair, bool)) (*[hostShards]map[K][]*pair, int) {
	m := h[i]
	old, ok := m[k]
	ps, del := f(old, ok)
	if del && !ok {
		return h, 0
	}
	n := maps.Clone(m) // the map's groups copied as they are, not rehashed
	if n == nil {
		n = map[K][]*pair{}
	}
	d := 0
	if del {
		delete(n, k)
		d = -1
	} else {
		if !ok {
			d = 1
		}
		n[k] = ps
	}
	c := *h
	c[i] = n
	return &c, d
}
