package dnskey

import (
	"fmt"
	"strings"
)

// A look-up asks three types, each of every server twice, so one dead
// resolver fails six times for one peer. The errors here say it once:
// which names and types failed, each server's reason with how often, and
// what to check.

// serverError is one attempt's failure at one server.
type serverError struct{ server, reason string }

// serverReasons says, per server in the order first asked, why it failed,
// with "(N times)" for a reason repeated: "127.0.0.1:53: timeout after 2s
// (2 times)".
func serverReasons(errs []serverError) string {
	type count struct {
		serverError
		n int
	}
	var seen []count
next:
	for _, e := range errs {
		for i := range seen {
			if seen[i].serverError == e {
				seen[i].n++
				continue next
			}
		}
		seen = append(seen, count{e, 1})
	}
	parts := make([]string, len(seen))
	for i, c := range seen {
		parts[i] = c.server + ": " + c.reason
		if c.n > 1 {
			parts[i] += fmt.Sprintf(" (%d times)", c.n)
		}
	}
	return strings.Join(parts, "; ")
}

// queryFailure is one (name, type) query that no server answered usefully.
type queryFailure struct {
	name, qtype string
	why         string // serverReasons
}

func (e *queryFailure) Error() string {
	return fmt.Sprintf("%v: %s %s: %s", ErrDNSFailure, e.name, e.qtype, e.why)
}

func (e *queryFailure) Unwrap() error { return ErrDNSFailure }

// lookupFailure is a look-up whose queries failed: the types that failed
// for the same reasons are named together.
type lookupFailure struct {
	id       ID
	failures []error
}

func (e *lookupFailure) Error() string {
	type group struct {
		name, why string
		types     []string
	}
	var groups []group
	var other []string
next:
	for _, f := range e.failures {
		q, ok := f.(*queryFailure)
		if !ok {
			other = append(other, f.Error())
			continue
		}
		for i := range groups {
			if groups[i].name == q.name && groups[i].why == q.why {
				groups[i].types = append(groups[i].types, q.qtype)
				continue next
			}
		}
		groups = append(groups, group{q.name, q.why, []string{q.qtype}})
	}
	parts := other
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%s %s: %s", g.name, strings.Join(g.types, ", "), g.why))
	}
	return fmt.Sprintf("dnskey: %s: %v: %s; check that dns.servers are up and answer from this host (oemesh dns lookup %s)",
		e.id, ErrDNSFailure, strings.Join(parts, "; "), e.id)
}

func (e *lookupFailure) Unwrap() []error { return e.failures }
