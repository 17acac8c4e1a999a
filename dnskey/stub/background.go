package stub

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

// job is the work for one name: the look-up at it, the binding, the
// prestarts. Answers for a name that already has a job (the A and the
// AAAA answer of one getaddrinfo, say) add their addresses to it, so one
// look-up serves them and one Bind carries every address.
type job struct {
	name  string
	addrs []netip.Addr // guarded by Stub.mu until the job leaves pending
	ttl   time.Duration
	// hold marks the addresses in an OE group pending in the binding
	// store until the job is over (nil without a Binder).
	hold *dnskey.Pending
	// answered is closed once the answer that made the job has been
	// written (or, with Config.Hold, once it is held): the look-up waits
	// for it.
	answered chan struct{}
	// early is the look-up started when the query arrived
	// (Config.EarlyLookup), whose result the job takes instead of
	// looking up again; nil without one.
	early *early
	// over is closed when the job has bound and prestarted what it
	// would: a held answer (hold.go) waits for it before it waits for
	// the negotiations.
	over chan struct{}
}

// observe takes an answer about to go back to the application and, if it
// gives addresses in an OE group, queues the work for its name and marks
// those addresses pending. It never blocks on that work. e is the early
// look-up of the answer's query, if any: a job made here takes it. It
// returns the job the answer's addresses went to, or nil if none, and
// whether it made that job: the caller then closes the job's answered
// channel once the answer is written (an answer for a name with a job
// joins it).
func (s *Stub) observe(resp *dns.Msg, e *early) (j *job, made bool) {
	a, ok := readAnswer(resp)
	if !ok {
		return nil, false
	}
	anyOE := false
	for _, addr := range a.addrs {
		if s.cfg.InOE(addr) {
			anyOE = true
			break
		}
	}
	if !anyOE || (s.cfg.Binder == nil && s.cfg.Prestart == nil) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Err() != nil {
		return nil, false
	}
	if j, ok := s.pending[a.name]; ok {
		var added []netip.Addr
		for _, addr := range a.addrs {
			if !slices.Contains(j.addrs, addr) && len(j.addrs) < 2*maxAddrs {
				j.addrs = append(j.addrs, addr)
				added = append(added, addr)
			}
		}
		j.hold.Add(s.oeAddrs(added))
		j.ttl = min(j.ttl, a.ttl)
		return j, false
	}
	if len(s.pending) >= s.cfg.MaxPending {
		// Nothing marked pending: OE to these addresses does not wait.
		s.stats.dropped.Add(1)
		return nil, false
	}
	j = &job{name: a.name, addrs: a.addrs, ttl: a.ttl, answered: make(chan struct{}), over: make(chan struct{})}
	if e != nil && e.name == a.name {
		j.early = e
	}
	if s.cfg.Binder != nil {
		j.hold = s.cfg.Binder.Pend(s.oeAddrs(a.addrs))
	}
	s.pending[a.name] = j
	s.bg.Go(func() { s.run(j) })
	return j, true
}

// oeAddrs are the addresses of addrs in an OE group: the only ones OE
// negotiates with, so the only ones worth marking pending.
func (s *Stub) oeAddrs(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if s.cfg.InOE(a) {
			out = append(out, a)
		}
	}
	return out
}

// run does one job, once its answer is written, within the limit on
// look-ups at once. However it ends, it releases the job's pending hold:
// after the Bind if there is one, and if the stub closes first too.
func (s *Stub) run(j *job) {
	defer close(j.over)
	defer j.hold.Done() // a second Done does nothing
	select {
	case <-j.answered:
	case <-s.life.Done():
		s.take(j)
		return
	}
	var res dnskey.Result
	var lookupErr error
	if j.early != nil {
		// Its look-up held a token while it ran; the rest is quick.
		if s.cfg.Binder != nil {
			r, err := s.result(j.early)
			res, lookupErr = s.judge(j.name, r, err)
		}
	} else {
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		case <-s.life.Done():
			s.take(j)
			return
		}
		if s.cfg.Binder != nil {
			res, lookupErr = s.lookup(j.name)
		}
	}
	addrs, ttl := s.take(j)
	if s.cfg.BindNames && errors.Is(lookupErr, dnskey.ErrNoKey) {
		res, lookupErr = dnskey.Result{}, nil // the name alone
	}
	if s.cfg.Binder != nil && lookupErr == nil {
		if err := s.cfg.Binder.Bind(j.name, addrs, res, ttl); err != nil {
			s.stats.bindFailed.Add(1)
			s.log.Warn("dns stub: binding refused", "name", j.name, "addrs", addrs, "err", err)
		} else {
			s.stats.bindings.Add(1)
			s.log.Debug("dns stub: bound", "name", j.name, "addrs", addrs, "keys", len(res.Keys), "ttl", ttl)
		}
	}
	// Settled (bound or not) before the prestarts, which must not find
	// their own target pending.
	j.hold.Done()
	if s.cfg.Prestart == nil {
		return
	}
	for _, addr := range addrs {
		if s.life.Err() != nil {
			return
		}
		if s.cfg.InOE(addr) && s.cfg.Prestart(s.life, addr) {
			s.stats.prestarts.Add(1)
			s.log.Debug("dns stub: prestarted OE", "name", j.name, "addr", addr)
		}
	}
}

// A name whose keys were refused is logged once, then again only after
// warnAgain, however often applications ask for it; warnedNames bounds
// the names remembered.
const (
	warnAgain   = time.Hour
	warnedNames = 4096
)

// firstWarning reports whether name's refusal is to be logged now.
func (s *Stub) firstWarning(name string) bool {
	now := time.Now()
	if at, ok := s.warned.Get(name); ok && now.Sub(at) < warnAgain {
		return false
	}
	s.warned.Add(name, now)
	return true
}

// take removes j from the pending jobs and returns its addresses and TTL,
// which no answer changes after that.
func (s *Stub) take(j *job) ([]netip.Addr, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, j.name)
	return j.addrs, j.ttl
}

// lookup asks for the keys at name. A name whose keys are refused (an
// unsigned record under dns.require_dnssec, records that do not parse)
// is logged once a while, at warning level, with the reason; no key at
// all, or a DNS failure, only at debug level: most names have none.
func (s *Stub) lookup(name string) (dnskey.Result, error) {
	res, err := s.fetch(s.life, name)
	return s.judge(name, res, err)
}

// fetch asks for the keys at name, and counts the look-up.
func (s *Stub) fetch(ctx context.Context, name string) (dnskey.Result, error) {
	s.stats.lookups.Add(1)
	id, err := dnskey.ParseID("@" + name)
	if err != nil {
		return dnskey.Result{}, err
	}
	return s.cfg.Keys.Lookup(ctx, id)
}

// judge counts and logs the outcome of the look-up at name, once a job
// takes it.
func (s *Stub) judge(name string, res dnskey.Result, err error) (dnskey.Result, error) {
	if err == nil {
		return res, nil
	}
	s.stats.lookupsFailed.Add(1)
	refused := errors.Is(err, dnskey.ErrInsecure) || len(res.Skipped) > 0
	if refused && s.firstWarning(name) {
		reason := err.Error()
		if len(res.Skipped) > 0 {
			reason = res.Skipped[0].Reason
		}
		s.log.Warn("dns stub: no binding for a name: its key records are not usable", "name", name, "reason", reason, "err", err)
	} else if !refused {
		s.log.Debug("dns stub: no key at the name", "name", name, "err", err)
	}
	return res, err
}
