package userspace

import (
	"net/netip"
	"sort"
	"time"

	"github.com/gaissmai/bart"

	"github.com/oemesh/oemesh/kernel"
)

// tables is what the data path looks packets up in. It is immutable: the
// control plane makes a new one under Device.mu and publishes it with an
// atomic store, so the data path never takes a lock. A change copies only
// what it touches (snapshot.go): a pair its selectors' paths in the
// outbound trie and one shard of the inbound index, a trap one path of the
// trap trie, a shunt the shunt map; the rest is shared with the snapshot
// before.
type tables struct {
	traps  *bart.Table[kernel.Group]
	out    outTable // by remote selector; newest pair first (outtable.go)
	in     spiIndex
	shunts map[kernel.Flow]*shunt
	// excl is the port exclusions, checked before anything else.
	excl []kernel.Exclusion
}

// excluded reports whether a port exclusion keeps the packet clear.
func (t *tables) excluded(ip *ipPacket) bool {
	for i := range t.excl {
		if t.excl[i].Outbound(ip.l4proto, ip.src, ip.dst, ip.sport, ip.dport) {
			return true
		}
	}
	return false
}

// spiIndex finds an inbound SA by SPI. It is sharded so that installing a
// pair copies one small map, not one with every SA in it.
type spiIndex [spiShards]map[uint32]*inSA

const spiShards = 64

// shardOf spreads SPIs over the shards (Fibonacci hashing: peers' SPIs
// need not be random).
func shardOf(spi uint32) uint32 { return (spi * 0x9e3779b1) >> 26 }

func (x *spiIndex) get(spi uint32) *inSA { return x[shardOf(spi)][spi] }

func (x *spiIndex) len() int {
	n := 0
	for _, m := range x {
		n += len(m)
	}
	return n
}

// shunt is a pass, drop or hold decision for a flow until it expires.
type shunt struct {
	s       kernel.Shunt
	expires time.Time // zero: no lifetime
}

// lookupOut returns the pair that carries a packet from src to dst.
func (t *tables) lookupOut(src, dst netip.Addr) *pair {
	ps, ok := t.out.Lookup(dst)
	if !ok {
		return nil
	}
	var deferred *pair
	for _, p := range ps {
		if !p.matches(src, dst) || p.dead.Load() {
			continue
		}
		if p.deferOut.Load() {
			if deferred == nil {
				deferred = p
			}
			continue // an older pair carries the flow until the peer uses this one
		}
		return p
	}
	return deferred
}

// lookupShunt finds the shunt for a flow: the exact flow, then the flow
// with any protocol and ports, then any source.
func (t *tables) lookupShunt(f kernel.Flow) *shunt {
	if len(t.shunts) == 0 {
		return nil
	}
	if s, ok := t.shunts[f]; ok {
		return s
	}
	if s, ok := t.shunts[kernel.Flow{Src: f.Src, Dst: f.Dst}]; ok {
		return s
	}
	if s, ok := t.shunts[kernel.Flow{Dst: f.Dst}]; ok {
		return s
	}
	return nil
}

// shuntCovers reports whether a shunt's flow (with its wildcards) covers f.
func shuntCovers(s, f kernel.Flow) bool {
	if s.Dst != f.Dst || (s.Src.IsValid() && s.Src != f.Src) {
		return false
	}
	if s.Proto == 0 {
		return true
	}
	return s == f
}

// buildTables makes a snapshot from the control plane's state from
// scratch: at start, and in tests as the reference for the incremental
// updates.
func buildTables(traps map[netip.Prefix]kernel.Group, pairs map[kernel.SAPairID]*pair, shunts map[kernel.Flow]*shunt) *tables {
	t := &tables{
		traps:  new(bart.Table[kernel.Group]),
		out:    newOutTable(),
		shunts: make(map[kernel.Flow]*shunt, len(shunts)),
	}
	for p, g := range traps {
		t.traps.Insert(p, g)
	}
	sorted := make([]*pair, 0, len(pairs))
	for _, p := range pairs {
		sorted = append(sorted, p)
		sh := &t.in[shardOf(p.in.spi)]
		if *sh == nil {
			*sh = make(map[uint32]*inSA)
		}
		(*sh)[p.in.spi] = &p.in
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].order > sorted[j].order })
	for _, p := range sorted {
		for _, r := range p.remote {
			r = r.Masked()
			old, _ := t.out.Get(r)
			t.out.Insert(r, append(old, p))
		}
	}
	for f, s := range shunts {
		t.shunts[f] = s
	}
	return t
}
