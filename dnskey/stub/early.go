package stub

import (
	"context"
	"strings"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

// Early look-ups (Config.EarlyLookup): the stub knows the name when the
// query arrives, so it starts the key look-up at that name then, while
// the query is upstream, instead of after the answer. The answer and the
// keys then arrive at about the same time, and the prestart no longer
// waits a DNS round trip for the keys after the answer. The price: the
// look-up is made before the stub knows whether the answer's addresses
// are in an OE group at all. A look-up for an answer that gave no such
// address (or no answer: SERVFAIL, NXDOMAIN, NODATA) is cancelled if it
// still runs, and counted as wasted (Stats.EarlyWasted).
//
// An early look-up lives from the query to the answer: queries for one
// name (the A and AAAA of one getaddrinfo) share it; the answer that
// gives the name an address in an OE group hands it to the name's job
// (background.go), which uses its result instead of looking up again.

// early is one early look-up, shared by the queries for a name that
// arrive while it runs.
type early struct {
	name   string
	done   chan struct{} // closed once res and err are set
	res    dnskey.Result
	err    error
	cancel context.CancelFunc
	// users are the queries whose answer has not come back yet; used is
	// set once an answer gave the name an OE address. Guarded by
	// Stub.mu.
	users int
	used  bool
}

// startEarly starts, or joins, the early look-up at the name req asks
// for, when the stub makes them and req is an A or AAAA question that an
// answer could bind. It never waits: when the look-ups at once are all
// taken, the look-up waits for a token in its own goroutine. It returns
// nil when it started none; the caller must end a non-nil one with
// endEarly.
func (s *Stub) startEarly(req *dns.Msg) *early {
	if !s.cfg.EarlyLookup || s.cfg.Binder == nil || len(req.Question) != 1 {
		return nil
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET || (q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA) {
		return nil
	}
	if _, ok := dns.IsDomainName(q.Name); !ok || !dns.IsFqdn(q.Name) || q.Name == "." {
		return nil
	}
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Err() != nil {
		return nil
	}
	if e, ok := s.earlies[name]; ok {
		e.users++
		return e
	}
	if _, ok := s.pending[name]; ok {
		// An earlier answer's job for the name is still looking up or
		// binding: this answer joins it (observe), and needs no look-up.
		return nil
	}
	if len(s.earlies) >= s.cfg.MaxPending {
		s.stats.earlySkipped.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(s.life)
	e := &early{name: name, done: make(chan struct{}), cancel: cancel, users: 1}
	s.earlies[name] = e
	s.stats.earlyLookups.Add(1)
	s.bg.Go(func() {
		defer close(e.done)
		defer cancel()
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		case <-ctx.Done():
			e.err = context.Cause(ctx)
			return
		}
		e.res, e.err = s.fetch(ctx, name)
	})
	return e
}

// endEarly ends one query's share of e: used reports whether its answer
// gave the name an address in an OE group, and so handed e to the name's
// job. When the last query of e is over and none used it, it is
// cancelled and counted as wasted.
func (s *Stub) endEarly(e *early, used bool) {
	if e == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.users--
	e.used = e.used || used
	if e.users > 0 {
		return
	}
	if s.earlies[e.name] == e {
		delete(s.earlies, e.name)
	}
	if !e.used {
		e.cancel()
		s.stats.earlyWasted.Add(1)
	}
}

// result waits for e's look-up, or the stub's end, and returns it.
func (s *Stub) result(e *early) (dnskey.Result, error) {
	select {
	case <-e.done:
	case <-s.life.Done():
		return dnskey.Result{}, context.Cause(s.life)
	}
	return e.res, e.err
}
