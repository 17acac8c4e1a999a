package userspace

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/kernel"
)

// The updates below make the next snapshot of the tables from the current
// one, under Device.mu. Each costs what it touches, not what is installed:
// with 10,000 SA pairs and a million trap prefixes an install still copies
// a few trie paths and a map of about 150 SAs.

// withPair returns the snapshot with p installed. p is the newest pair
// (it carries the highest install order), so it goes first in the
// outbound lists of its selectors.
func (t *tables) withPair(p *pair) *tables {
	n := *t
	for _, r := range p.remote {
		n.out = n.out.modify(r.Masked(), func(old []*pair, _ bool) ([]*pair, bool) {
			return append([]*pair{p}, old...), false
		})
	}
	n.in.set(p.in.spi, &p.in)
	return &n
}

// withoutPair returns the snapshot with p removed.
func (t *tables) withoutPair(p *pair) *tables {
	n := *t
	for _, r := range p.remote {
		n.out = n.out.modify(r.Masked(), func(old []*pair, ok bool) ([]*pair, bool) {
			if !ok {
				return nil, true
			}
			rest := slices.DeleteFunc(slices.Clone(old), func(x *pair) bool { return x == p })
			return rest, len(rest) == 0
		})
	}
	if n.in.get(p.in.spi) == &p.in {
		n.in.remove(p.in.spi)
	}
	return &n
}

// withTrap returns the snapshot with the trap for pfx set to g.
func (t *tables) withTrap(pfx netip.Prefix, g kernel.Group) *tables {
	n := *t
	n.traps = n.traps.InsertPersist(pfx, g)
	return &n
}

// withoutTrap returns the snapshot without the trap for pfx.
func (t *tables) withoutTrap(pfx netip.Prefix) *tables {
	n := *t
	n.traps = n.traps.DeletePersist(pfx)
	return &n
}

// withExclusions returns the snapshot with the port exclusions xs.
func (t *tables) withExclusions(xs []kernel.Exclusion) *tables {
	n := *t
	n.excl = slices.Clone(xs)
	return &n
}

// withShunts returns the snapshot with the control plane's shunts.
func (t *tables) withShunts(shunts map[kernel.Flow]*shunt) *tables {
	n := *t
	n.shunts = maps.Clone(shunts)
	if n.shunts == nil {
		n.shunts = map[kernel.Flow]*shunt{}
	}
	return &n
}

// set and remove change one shard, copied: the index is part of a
// snapshot that the data path may be reading.
func (x *spiIndex) set(spi uint32, sa *inSA) {
	i := shardOf(spi)
	m := maps.Clone(x[i]) // the map's groups copied as they are, not rehashed
	if m == nil {
		m = map[uint32]*inSA{}
	}
	m[spi] = sa
	x[i] = m
}

func (x *spiIndex) remove(spi uint32) {
	i := shardOf(spi)
	m := maps.Clone(x[i])
	delete(m, spi)
	x[i] = m
}
