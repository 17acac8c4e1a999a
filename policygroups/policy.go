package policygroups

import (
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/gaissmai/bart"
)

// Entry is one prefix of one group, and where it was written.
type Entry struct {
	Prefix netip.Prefix
	Group  Group
	Source Position
	// Host is the host name the prefix was resolved from, if any.
	Host string
	// Exemption is why the daemon added this host to the policy (see
	// Policy.Exempt), or "" for an entry of a file. An exemption's Source
	// has no line.
	Exemption string
}

// Match is the answer to "which group applies to this address".
type Match struct {
	Addr  netip.Addr
	Group Group
	// Entry is the most specific entry containing Addr; it is the zero
	// Entry when nothing matched and the default (clear) applies.
	Entry Entry
}

// Default reports whether no entry matched.
func (m Match) Default() bool { return !m.Entry.Prefix.IsValid() }

// entry is the compact stored form of an Entry: the file is implied by the
// group, so a million prefixes cost a million small records, not a million
// file names.
type entry struct {
	prefix netip.Prefix
	host   string
	line   int32
	group  Group
}

// Policy is an immutable, loaded set of policy groups. Lookups are safe for
// concurrent use; a reload builds a new Policy.
type Policy struct {
	files   [len(Groups)]string // each group's file name, for Source
	table   *bart.Fast[uint32]  // prefix → index into entries
	entries []entry             // sorted by prefix, for listing and diffing
	// exempt holds the reasons of the hosts Exempt added (their line is
	// exemptLine); nil for a policy read from files only.
	exempt map[netip.Prefix]string
	// excl is portexcludes.conf, in file order.
	excl []Exclusion
}

// Exclusions returns the port exclusions (portexcludes.conf), in file
// order.
func (p *Policy) Exclusions() []Exclusion {
	if p == nil {
		return nil
	}
	return slices.Clone(p.excl)
}

// Excluded returns the exclusion that keeps flow f clear, if any: of those
// that match, the one of lowest priority number, then the first in the
// file. An exclusion is more specific than any prefix, so when one
// matches, f is clear whatever group f.Dst is in.
func (p *Policy) Excluded(f Flow) (Exclusion, bool) {
	var (
		best Exclusion
		ok   bool
	)
	if p == nil {
		return best, false
	}
	for _, x := range p.excl {
		if x.Matches(f) && (!ok || x.Priority < best.Priority) {
			best, ok = x, true
		}
	}
	return best, ok
}

func (p *Policy) export(e *entry) Entry {
	if e.line == exemptLine {
		return Entry{Prefix: e.prefix, Group: e.group, Source: Position{File: "oemeshd exemption"}, Exemption: p.exempt[e.prefix]}
	}
	return Entry{
		Prefix: e.prefix,
		Group:  e.group,
		Source: Position{File: p.file(e.group), Line: int(e.line)},
		Host:   e.host,
	}
}

func (p *Policy) file(g Group) string {
	if int(g) < len(p.files) {
		return p.files[g]
	}
	return g.String()
}

func newEmptyPolicy(dir string) *Policy {
	p := &Policy{}
	for i, g := range Groups {
		p.files[i] = filepath.Join(dir, g.String())
	}
	return p
}

// Lookup returns the group for addr: the most specific prefix across all
// groups wins; with no match the group is Clear.
func (p *Policy) Lookup(addr netip.Addr) Match {
	addr = addr.Unmap().WithZone("")
	if p == nil || p.table == nil || !addr.IsValid() {
		return Match{Addr: addr, Group: Clear}
	}
	v, ok := p.table.Lookup(addr)
	if !ok {
		return Match{Addr: addr, Group: Clear}
	}
	e := &p.entries[v>>groupBits]
	return Match{Addr: addr, Group: e.group, Entry: p.export(e)}
}

// groupBits is how many low bits of a table value hold the group, so that
// Group answers from the trie alone, without touching the entry record (on
// a million-prefix policy that second access is a cache miss costing as
// much as the trie walk).
const groupBits = 3

// Group returns the group that applies to addr, as Lookup does, but without
// the matching entry: the decision the daemon makes on every acquire and
// every responder check.
func (p *Policy) Group(addr netip.Addr) Group {
	addr = addr.Unmap().WithZone("")
	if p == nil || p.table == nil || !addr.IsValid() {
		return Clear
	}
	v, ok := p.table.Lookup(addr)
	if !ok {
		return Clear
	}
	return Group(v & (1<<groupBits - 1))
}

// Entries returns every entry, sorted by address and prefix length.
func (p *Policy) Entries() []Entry {
	if p == nil {
		return nil
	}
	out := make([]Entry, len(p.entries))
	for i := range p.entries {
		out[i] = p.export(&p.entries[i])
	}
	slices.SortFunc(out, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// Len is the number of prefixes in the policy.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.entries)
}

// Count returns how many prefixes each group holds.
func (p *Policy) Count() map[Group]int {
	m := make(map[Group]int, len(Groups))
	for _, g := range Groups {
		m[g] = 0
	}
	if p != nil {
		for i := range p.entries {
			m[p.entries[i].group]++
		}
	}
	return m
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// build makes a policy from entries that hold no repeated prefix; tests use it.
func build(in []Entry) *Policy {
	p := newEmptyPolicy("")
	es := make([]entry, len(in))
	for i, e := range in {
		es[i] = entry{prefix: e.Prefix, host: e.Host, line: int32(e.Source.Line), group: e.Group}
	}
	if w, errs := p.index(es); len(w)+len(errs) > 0 {
		panic("policygroups: build: repeated prefixes")
	}
	return p
}
