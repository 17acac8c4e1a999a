package publish

import (
	"crypto"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Op is what an UPDATE does to our records.
type Op int

//go:generate go tool stringer -type=Op -linecomment

const (
	// OpSet makes our RRsets hold exactly the given keys' records (and our
	// addresses): delete each RRset, then add ours, atomically.
	OpSet Op = iota // set
	// OpAdd adds the given keys' records beside what is there (the
	// rollover's first step).
	OpAdd // add
	// OpWithdraw deletes exactly the given keys' records and our address
	// records, leaving anything else at those names.
	OpWithdraw // withdraw
)

// Change is one zone's part of an operation: the records to delete and
// add, and the zone that holds them.
type Change struct {
	Zone         string
	RemoveRRsets []dns.RR // delete the whole RRset (class ANY)
	Remove       []dns.RR // delete this record (class NONE)
	Insert       []dns.RR
}

// Records names the records touched, for messages: "IPSECKEY b.example.".
func (c Change) Records() string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]dns.RR{c.RemoveRRsets, c.Remove, c.Insert} {
		for _, rr := range l {
			s := dns.TypeToString[rr.Header().Rrtype] + " " + rr.Header().Name
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, ", ")
}

// Msg builds the UPDATE message for c (unsigned; the sender signs it).
func (c Change) Msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	if len(c.RemoveRRsets) > 0 {
		m.RemoveRRset(c.RemoveRRsets)
	}
	if len(c.Remove) > 0 {
		m.Remove(c.Remove)
	}
	if len(c.Insert) > 0 {
		m.Insert(c.Insert)
	}
	return m
}

// Plan turns an operation on spec with keys into records, not yet sorted
// into zones: RRsets to delete, single records to delete, records to add.
func Plan(spec Spec, op Op, keys []crypto.PublicKey) (Change, error) {
	if err := spec.Check(); err != nil {
		return Change{}, err
	}
	if len(keys) == 0 && (spec.AtForward || spec.AtReverse) {
		return Change{}, fmt.Errorf("%s: no host key", op)
	}
	keyRRs, err := spec.ipseckeys(keys)
	if err != nil {
		return Change{}, err
	}
	addrRRs := spec.addressRecords()
	var c Change
	switch op {
	case OpSet:
		if c.RemoveRRsets, err = spec.rrsetHeads(); err != nil {
			return Change{}, err
		}
		c.Insert = append(keyRRs, addrRRs...)
	case OpAdd:
		c.Insert = append(keyRRs, addrRRs...)
	case OpWithdraw:
		c.Remove = append(keyRRs, addrRRs...)
	default:
		return Change{}, fmt.Errorf("unknown operation %v", op)
	}
	return c, nil
}

// byZone splits c by the zone of each record's owner name (zoneOf).
func (c Change) byZone(zoneOf func(name string) (string, error)) ([]Change, error) {
	var out []Change
	index := map[string]int{}
	get := func(name string) (*Change, error) {
		z, err := zoneOf(name)
		if err != nil {
			return nil, err
		}
		i, ok := index[z]
		if !ok {
			i = len(out)
			index[z] = i
			out = append(out, Change{Zone: z})
		}
		return &out[i], nil
	}
	for _, rr := range c.RemoveRRsets {
		z, err := get(rr.Header().Name)
		if err != nil {
			return nil, err
		}
		z.RemoveRRsets = append(z.RemoveRRsets, rr)
	}
	for _, rr := range c.Remove {
		z, err := get(rr.Header().Name)
		if err != nil {
			return nil, err
		}
		z.Remove = append(z.Remove, rr)
	}
	for _, rr := range c.Insert {
		z, err := get(rr.Header().Name)
		if err != nil {
			return nil, err
		}
		z.Insert = append(z.Insert, rr)
	}
	return out, nil
}
