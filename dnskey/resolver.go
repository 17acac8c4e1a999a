package dnskey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/internal/clock"
	"golang.org/x/sync/singleflight"
)

// Config configures a Resolver. The zero value is usable and strict: it
// reads /etc/resolv.conf and requires DNSSEC.
type Config struct {
	// Servers are the resolvers to ask, in order: "addr:port", "addr"
	// (port 53) or the path of a resolv.conf file (its nameservers, as
	// dns.servers allows). Empty means ResolvConf.
	Servers []string
	// ResolvConf is read when Servers is empty; default /etc/resolv.conf.
	ResolvConf string
	// Timeout bounds each query attempt; default 2s. Each server is
	// tried at most twice (one retry).
	Timeout time.Duration
	// AcceptInsecure is the inverse of dns.require_dnssec (default false,
	// i.e. required): when false, only records from answers that carry the
	// AD bit are used. See the package documentation and docs/dnssec.md.
	AcceptInsecure bool
	// MinTTL and MaxTTL clamp every record's and negative answer's TTL;
	// defaults 10s and 1h.
	MinTTL, MaxTTL time.Duration
	// CacheSize bounds the cache in names (each with its IPSECKEY, TXT and
	// KEY answers); default 4096.
	CacheSize int
	// FailureTTL is how long a query that failed (every server timed out
	// or answered SERVFAIL or REFUSED) is answered with that failure
	// without asking again, as RFC 9520 has resolvers do (at least 1 s, at
	// most 5 min); default 5s, negative: never. Without it a host whose
	// resolver is dead makes every peer wait the whole DNS bound again
	// for each exchange that needs a key, e.g. a peer's IKE_AUTH right
	// after our own look-up of its key failed.
	FailureTTL time.Duration
	// UDPSize is the EDNS0 buffer size offered; default 1232.
	UDPSize uint16
	// Clock defaults to the system clock; tests expire cache entries
	// with a fake one, without sleeping.
	Clock clock.Clock
	// Logger receives a warning per record skipped; default: discard.
	Logger *slog.Logger
}

// queryTypes are asked in parallel for every lookup.
var queryTypes = [...]uint16{dns.TypeIPSECKEY, dns.TypeTXT, dns.TypeKEY}

// Resolver finds peers' keys in DNS and caches them. It is safe for
// concurrent use.
type Resolver struct {
	cfg Config
	// upstream is cfg's Servers and Timeout as in force now: Reconfigure
	// swaps them while queries run (a daemon's reload).
	upstream atomic.Pointer[upstream]
	cache    *answerCache
	failures failureMemory
	inflight singleflight.Group
	stats    counters
}

// New checks cfg, fills in defaults and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = 10 * time.Second
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.MinTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("dnskey: min TTL %v exceeds max TTL %v", cfg.MinTTL, cfg.MaxTTL)
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 4096
	}
	switch {
	case cfg.FailureTTL == 0:
		cfg.FailureTTL = 5 * time.Second
	case cfg.FailureTTL > 5*time.Minute:
		cfg.FailureTTL = 5 * time.Minute // RFC 9520 §3.2
	}
	if cfg.UDPSize == 0 {
		cfg.UDPSize = 1232
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	list, err := ServerList(cfg.Servers, cfg.ResolvConf)
	if err != nil {
		return nil, err
	}
	servers := make([]string, len(list))
	for i, s := range list {
		servers[i] = s.Addr.String()
	}
	cfg.Servers = servers
	c, err := newAnswerCache(cfg.CacheSize, cfg.Clock)
	if err != nil {
		return nil, fmt.Errorf("dnskey: %w", err)
	}
	r := &Resolver{cfg: cfg, cache: c, failures: failureMemory{max: cfg.CacheSize}}
	r.upstream.Store(&upstream{servers: servers, timeout: cfg.Timeout})
	return r, nil
}

// upstream is where queries go and how long each attempt waits.
type upstream struct {
	servers []string
	timeout time.Duration
}

// Servers returns the servers the resolver asks, in order.
func (r *Resolver) Servers() []string { return slices.Clone(r.upstream.Load().servers) }

// Timeout returns the bound on each query attempt.
func (r *Resolver) Timeout() time.Duration { return r.upstream.Load().timeout }

// Reconfigure puts new servers (as Config.Servers, with Config.ResolvConf
// when empty) and a new per-attempt timeout (0: the default) in force for
// the queries that start from now on; queries under way finish as they
// began, and the cache is kept. On an error nothing changes.
func (r *Resolver) Reconfigure(servers []string, timeout time.Duration) error {
	list, err := ServerList(servers, r.cfg.ResolvConf)
	if err != nil {
		return err
	}
	addrs := make([]string, len(list))
	for i, s := range list {
		addrs[i] = s.Addr.String()
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	r.upstream.Store(&upstream{servers: addrs, timeout: timeout})
	return nil
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	return Stats{
		Hits: r.stats.hits.Load(), Misses: r.stats.misses.Load(), Coalesced: r.stats.coalesced.Load(),
		Queries: r.stats.queries.Load(), Errors: r.stats.errors.Load(), Entries: r.cache.len(),
	}
}

// Result is what DNS says about one ID.
type Result struct {
	ID   ID
	Name string // the name queried
	// Keys are the usable records, lowest precedence first. Under
	// dns.require_dnssec all of them are Secure.
	Keys []PeerKey
	// Skipped are records found but not used, each with the reason.
	Skipped []SkippedRecord
	// Insecure is set when some answer lacked the AD bit.
	Insecure bool
	// Failures lists the record types whose query failed although others
	// answered (with ErrDNSFailure they are in the error instead).
	Failures []string
	// Outcome summarises each type's answer, e.g. "IPSECKEY: NXDOMAIN".
	Outcome []string
}

// Connectable returns the keys an initiator can use directly (gateway is an
// address or the target itself), in precedence order.
func (res Result) Connectable() []PeerKey {
	var out []PeerKey
	for _, k := range res.Keys {
		if k.Connectable() && k.PublicKey != nil {
			out = append(out, k)
		}
	}
	return out
}

// Lookup queries IPSECKEY, TXT and KEY for id in parallel (or takes them
// from the cache) and returns the usable records. The error wraps ErrNoKey
// (ErrInsecure included) when DNS answered but nothing is usable, or
// ErrDNSFailure when DNS did not answer; the Result is filled in either
// case, so that a caller can explain it.
func (r *Resolver) Lookup(ctx context.Context, id ID) (Result, error) {
	name, err := id.QueryName()
	if err != nil {
		return Result{ID: id}, fmt.Errorf("dnskey: %w", err)
	}
	name = strings.ToLower(dns.Fqdn(name))
	res := Result{ID: id, Name: name}

	answers := make([]*rrsetAnswer, len(queryTypes))
	errs := make([]error, len(queryTypes))
	// Cache hits are taken here, without goroutines: this is the hot path.
	var wg sync.WaitGroup
	for i, qt := range queryTypes {
		k := cacheKey{name: name, qtype: qt}
		if a, ok := r.cache.get(k); ok {
			r.stats.hits.Add(1)
			answers[i] = a
			continue
		}
		if err, ok := r.failures.get(k, r.cfg.Clock.Now()); ok {
			errs[i] = err
			continue
		}
		wg.Go(func() { answers[i], errs[i] = r.fetchShared(ctx, k) })
	}
	wg.Wait()

	now := r.cfg.Clock.Now()
	var failures []error
	insecureSkipped := false
	for i, a := range answers {
		tname := dns.TypeToString[queryTypes[i]]
		if errs[i] != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return res, fmt.Errorf("dnskey: %s: %w", id, ctxErr)
			}
			failures = append(failures, errs[i])
			res.Outcome = append(res.Outcome, tname+": failed")
			continue
		}
		res.Outcome = append(res.Outcome, tname+": "+a.kind.String())
		res.Skipped = append(res.Skipped, a.skipped()...)
		if !a.secure && a.kind == answerPositive {
			res.Insecure = true
		}
		// Whole seconds, rounded up: a fresh 300s answer shows 300s.
		ttl := (a.expires.Sub(now) + time.Second - 1).Truncate(time.Second)
		for _, k := range a.keys() {
			k.TTL = ttl
			if !k.Secure && !r.cfg.AcceptInsecure {
				insecureSkipped = true
				res.Skipped = append(res.Skipped, SkippedRecord{Record: k.Record,
					Reason: "answer not DNSSEC-validated (no AD bit) and dns.require_dnssec is on"})
				continue
			}
			res.Keys = append(res.Keys, k)
		}
	}
	sortKeys(res.Keys)
	for _, f := range failures {
		res.Failures = append(res.Failures, f.Error())
	}
	switch {
	case len(res.Keys) > 0:
		return res, nil
	case len(failures) > 0:
		return res, &lookupFailure{id: id, failures: failures}
	case insecureSkipped:
		return res, fmt.Errorf("dnskey: %s: %w", id, ErrInsecure)
	case len(res.Skipped) > 0:
		return res, fmt.Errorf("dnskey: %s: %w: %d record(s) at %s did not parse", id, ErrNoKey, len(res.Skipped), name)
	}
	return res, fmt.Errorf("dnskey: %s: %w: %s (%s)", id, ErrNoKey, name, strings.Join(res.Outcome, ", "))
}

// fetchShared fetches the answer for k after a cache miss; concurrent
// misses for one k share one fetch.
func (r *Resolver) fetchShared(ctx context.Context, k cacheKey) (*rrsetAnswer, error) {
	r.stats.misses.Add(1)
	leader := false
	// The fetch must not die with the first caller's context: others may
	// be waiting on it. Its own attempts are bounded by the timeout.
	fetchCtx := context.WithoutCancel(ctx)
	ch := r.inflight.DoChan(k.String(), func() (any, error) {
		leader = true
		// A fetch that finished just before this one started has
		// filled the cache already.
		if a, ok := r.cache.get(k); ok {
			return a, nil
		}
		a, err := r.fetch(fetchCtx, k)
		if err != nil {
			if r.cfg.FailureTTL > 0 && errors.Is(err, ErrDNSFailure) {
				r.failures.add(k, err, r.cfg.Clock.Now(), r.cfg.FailureTTL)
			}
			r.stats.errors.Add(1)
			r.cfg.Logger.Debug("dnskey: lookup failed", "name", k.name, "type", dns.TypeToString[k.qtype], "err", err)
			return nil, err
		}
		r.cfg.Logger.Debug("dnskey: answer", "name", k.name, "type", dns.TypeToString[k.qtype], "answer", a.kind.String(),
			"secure", a.secure, "keys", len(a.keys()), "skipped", len(a.skipped()), "cached", !a.noCache,
			"ttl", a.expires.Sub(r.cfg.Clock.Now()))
		r.cache.add(k, a)
		return a, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if !leader {
			r.stats.coalesced.Add(1)
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*rrsetAnswer), nil
	}
}

// fetch asks DNS for k and parses the answer.
func (r *Resolver) fetch(ctx context.Context, k cacheKey) (*rrsetAnswer, error) {
	resp, err := r.exchange(ctx, k.name, k.qtype)
	if err != nil {
		return nil, err
	}
	return r.answerFrom(k, resp, r.cfg.Clock.Now()), nil
}

// answerFrom turns a NOERROR or NXDOMAIN response into the cached answer.
func (r *Resolver) answerFrom(k cacheKey, resp *dns.Msg, now time.Time) *rrsetAnswer {
	a := &rrsetAnswer{secure: resp.AuthenticatedData}
	if resp.Rcode == dns.RcodeNameError {
		a.kind = answerNXDomain
		r.negativeTTL(a, resp, now)
		return a
	}
	owners := cnameChain(k.name, resp.Answer)
	var minTTL uint32
	found := 0
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Rrtype != k.qtype || h.Class != dns.ClassINET || !owners[strings.ToLower(h.Name)] {
			continue
		}
		if found == 0 || h.Ttl < minTTL {
			minTTL = h.Ttl
		}
		found++
		r.parseRecord(a, k.name, rr)
	}
	if found == 0 {
		a.kind = answerNoData
		r.negativeTTL(a, resp, now)
		return a
	}
	a.kind = answerPositive
	a.expires = now.Add(r.clamp(time.Duration(minTTL) * time.Second))
	return a
}

// parseRecord adds rr to a as a key, a skipped record or an ignored TXT.
func (r *Resolver) parseRecord(a *rrsetAnswer, qname string, rr dns.RR) {
	var k PeerKey
	var err error
	switch rr := rr.(type) {
	case *dns.IPSECKEY:
		k, err = ParseIPSECKEY(rr)
	case *dns.KEY:
		k, err = ParseKEY(rr)
	case *dns.TXT:
		var t TXTRecord
		t, err = ParseTXT(rr.Txt)
		if errors.Is(err, errNotIPsec) {
			a.ignored++
			return
		}
		k = PeerKey{Source: SourceTXT, Precedence: t.Precedence, Gateway: t.Gateway}
		if t.Key != nil {
			k.PublicKey, k.Algorithm = t.Key, AlgorithmRSA
		}
	default:
		err = fmt.Errorf("unexpected record type %s", dns.TypeToString[rr.Header().Rrtype])
	}
	text := rr.String()
	if err != nil {
		r.cfg.Logger.Warn("dnskey: skipping record", "record", text, "reason", err.Error())
		a.addSkipped(SkippedRecord{Record: text, Reason: err.Error()})
		return
	}
	k.Name = strings.ToLower(rr.Header().Name)
	if k.Name == qname {
		k.Name = qname // one string for the cache key and its records
	}
	k.Secure = a.secure
	k.Record = text
	a.addKey(k)
}

// negativeTTL sets the expiry of a negative answer from the SOA in the
// authority section: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5). Without an
// SOA the answer is not cached.
func (r *Resolver) negativeTTL(a *rrsetAnswer, resp *dns.Msg, now time.Time) {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			a.expires = now.Add(r.clamp(time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second))
			return
		}
	}
	a.noCache = true
	a.expires = now
}

func (r *Resolver) clamp(d time.Duration) time.Duration {
	return min(max(d, r.cfg.MinTTL), r.cfg.MaxTTL)
}

// cnameChain returns the lower-case owner names that stand for name in the
// answer: name and the targets of a CNAME chain from it (at most 8 links).
func cnameChain(name string, answer []dns.RR) map[string]bool {
	owners := map[string]bool{name: true}
	cur := name
	for range 8 {
		next := ""
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = strings.ToLower(c.Target)
				break
			}
		}
		if next == "" || owners[next] {
			break
		}
		owners[next] = true
		cur = next
	}
	return owners
}

// Authorizes reports whether DNS lets gateway speak for client (RFC 4322
// delegation): some usable record at client's name names gateway as its
// gateway, or names no gateway while gateway is client itself. It is
// (false, nil) when records exist but none names gateway, and (false, err)
// when there are none (ErrNoKey) or DNS failed (ErrDNSFailure).
func (r *Resolver) Authorizes(ctx context.Context, client, gateway ID) (bool, error) {
	res, err := r.Lookup(ctx, client)
	if err != nil {
		return false, err
	}
	for _, k := range res.Keys {
		if k.Gateway.Kind == GatewayNone {
			if client == gateway {
				return true, nil
			}
			continue
		}
		if gateway.matchesGateway(k.Gateway) {
			return true, nil
		}
	}
	return false, nil
}
