package stub

import (
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
}

// observe takes an answer that has gone back to the application and, if
// it gives addresses in an OE group, queues the work for its name. It
// never blocks on that work.
func (s *Stub) observe(resp *dns.Msg) {
	a, ok := readAnswer(resp)
	if !ok {
		return
	}
	anyOE := false
	for _, addr := range a.addrs {
		if s.cfg.InOE(addr) {
			anyOE = true
			break
		}
	}
	if !anyOE || (s.cfg.Binder == nil && s.cfg.Prestart == nil) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Err() != nil {
		return
	}
	if j, ok := s.pending[a.name]; ok {
		for _, addr := range a.addrs {
			if !slices.Contains(j.addrs, addr) && len(j.addrs) < 2*maxAddrs {
				j.addrs = append(j.addrs, addr)
			}
		}
		j.ttl = min(j.ttl, a.ttl)
		return
	}
	if len(s.pending) >= s.cfg.MaxPending {
		s.stats.dropped.Add(1)
		return
	}
	j := &job{name: a.name, addrs: a.addrs, ttl: a.ttl}
	s.pending[a.name] = j
	s.bg.Go(func() { s.run(j) })
}

// run does one job, within the limit on look-ups at once.
func (s *Stub) run(j *job) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-s.life.Done():
		s.take(j)
		return
	}
	var res dnskey.Result
	var lookupErr error
	if s.cfg.Binder != nil {
		res, lookupErr = s.lookup(j.name)
	}
	addrs, ttl := s.take(j)
	if s.cfg.Binder != nil && lookupErr == nil {
		if err := s.cfg.Binder.Bind(j.name, addrs, res, ttl); err != nil {
			s.stats.bindFailed.Add(1)
			s.log.Warn("dns stub: binding refused", "name", j.name, "addrs", addrs, "err", err)
		} else {
			s.stats.bindings.Add(1)
			s.log.Debug("dns stub: bound", "name", j.name, "addrs", addrs, "keys", len(res.Keys), "ttl", ttl)
		}
	}
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
	s.stats.lookups.Add(1)
	id, err := dnskey.ParseID("@" + name)
	if err != nil {
		s.stats.lookupsFailed.Add(1)
		return dnskey.Result{}, err
	}
	res, err := s.cfg.Keys.Lookup(s.life, id)
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
