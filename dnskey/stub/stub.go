package stub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

// Binder records what a look-up at a forward name found: the name, every
// address of its answer, the keys, and how long the answer holds. The
// daemon's binding store (dnskey.Bindings) is one.
//
// Pend marks the addresses of an answer as being looked up, before the
// answer goes to the application, so that OE to them waits for the
// binding instead of racing it (dnskey/pending.go); the stub releases
// the hold (Pending.Done) once the look-up and its Bind are over,
// whatever they found. A nil hold is allowed (nothing is marked).
type Binder interface {
	Bind(name string, addrs []netip.Addr, keys dnskey.Result, ttl time.Duration) error
	Pend(addrs []netip.Addr) *dnskey.Pending
}

// KeyLookup finds the keys of an ID in DNS; *dnskey.Resolver is one. It
// applies dns.require_dnssec: under it, an unsigned record is no key
// (dnskey.ErrInsecure).
type KeyLookup interface {
	Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error)
}

// Config configures a Stub.
type Config struct {
	// Listen is the address the stub serves on, over UDP and TCP.
	Listen netip.AddrPort
	// Upstreams are the resolvers every query is forwarded to, in order,
	// as "address:port". The daemon passes its dns.servers, so that
	// whatever exempts those from OE also covers the stub's upstreams.
	Upstreams []string
	// Timeout bounds each upstream attempt; default 2s.
	Timeout time.Duration
	// InOE reports whether an address falls in an OE group (private,
	// private-or-clear or clear-or-private). Only such addresses are
	// looked up, bound and prestarted. Required.
	InOE func(netip.Addr) bool
	// Keys looks keys up at forward names; required with Binder.
	Keys KeyLookup
	// Binder records the keys found; nil: no look-ups are made (the
	// addresses are still prestarted).
	Binder Binder
	// BindNames binds the addresses of a name whose look-up found no key
	// as well, with no keys (the Binder must keep such bindings,
	// dnskey.BindingsConfig.NameOnly): certificate OE checks the peer's
	// certificate against the name. Without it only keys are bound.
	BindNames bool
	// Prestart, when set (dns.prestart), starts OE to an address of an
	// answer, after the look-up at its name ended (whatever it found), so
	// that a binding is in place before the negotiation starts. It
	// reports whether a negotiation started; it must not block long.
	Prestart func(ctx context.Context, addr netip.Addr) bool
	// MaxLookups bounds the look-ups running at once; default 16.
	MaxLookups int
	// MaxPending bounds the names waiting for or in a look-up; answers
	// beyond it are not looked up (Stats.Dropped); default 1024.
	MaxPending int
	// Logger; default: discard.
	Logger *slog.Logger
}

// Stub is the DNS stub. Make one with New, run it with Serve.
type Stub struct {
	cfg   Config
	log   *slog.Logger
	stats counters

	udp, tcp *dns.Server

	// The background work (background.go).
	mu      sync.Mutex
	pending map[string]*job               // by name: answers waiting for or in a look-up
	sem     chan struct{}                 // MaxLookups tokens
	warned  *lru.Cache[string, time.Time] // names whose refused keys were logged, and when
	bg      sync.WaitGroup
	life    context.Context
	stop    context.CancelFunc
	closing sync.Once
}

// New checks cfg and makes a stub; nothing is served until Serve.
func New(cfg Config) (*Stub, error) {
	if !cfg.Listen.IsValid() {
		return nil, errors.New("dns stub: no listen address")
	}
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("dns stub: no upstream resolvers")
	}
	for _, up := range cfg.Upstreams {
		ap, err := netip.ParseAddrPort(up)
		if err != nil {
			return nil, fmt.Errorf("dns stub: upstream %q: want address:port", up)
		}
		if ap == cfg.Listen || (cfg.Listen.Addr().IsUnspecified() && ap.Port() == cfg.Listen.Port() && ap.Addr().IsLoopback()) {
			return nil, fmt.Errorf("dns stub: upstream %s is the stub itself: the upstreams must be real resolvers (set dns.servers to them, not to a resolv.conf that names the stub)", up)
		}
	}
	if cfg.InOE == nil {
		return nil, errors.New("dns stub: no policy (InOE)")
	}
	if cfg.Binder != nil && cfg.Keys == nil {
		return nil, errors.New("dns stub: a binder needs a key look-up")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxLookups <= 0 {
		cfg.MaxLookups = 16
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	warned, err := lru.New[string, time.Time](warnedNames)
	if err != nil {
		return nil, fmt.Errorf("dns stub: %w", err)
	}
	s := &Stub{
		cfg:     cfg,
		log:     cfg.Logger,
		pending: map[string]*job{},
		sem:     make(chan struct{}, cfg.MaxLookups),
		warned:  warned,
	}
	s.life, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Stats returns the counters.
func (s *Stub) Stats() Stats { return s.stats.snapshot() }

// Serve listens on Config.Listen over UDP and TCP and answers until ctx
// ends or Close is called; then it waits for its background work. It
// returns once both listeners are bound, with an error if either fails;
// serving goes on in the background.
func (s *Stub) Serve(ctx context.Context) error {
	pc, err := net.ListenPacket("udp", s.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("dns stub: listen udp %s: %w", s.cfg.Listen, err)
	}
	// Port 0 (tests): TCP takes the port the system gave UDP.
	tcpAddr := pc.LocalAddr().(*net.UDPAddr).AddrPort().String()
	ln, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns stub: listen tcp %s: %w", s.cfg.Listen, err)
	}
	s.udp = &dns.Server{PacketConn: pc, Net: "udp", Handler: s.handler("udp")}
	s.tcp = &dns.Server{Listener: ln, Net: "tcp", Handler: s.handler("tcp")}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.bg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil && s.life.Err() == nil {
				s.log.Error("dns stub: serving stopped", "net", srv.Net, "err", err)
			}
		})
	}
	<-started
	<-started
	// Not in bg: Close waits for bg.
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.life.Done():
		}
	}()
	s.log.Info("dns stub serving", "listen", s.cfg.Listen.String(), "upstreams", s.cfg.Upstreams,
		"bind", s.cfg.Binder != nil, "prestart", s.cfg.Prestart != nil)
	return nil
}

// Addr is the address the stub serves on (with the port the system
// chose, for port 0).
func (s *Stub) Addr() netip.AddrPort {
	if s.udp != nil && s.udp.PacketConn != nil {
		if a, ok := s.udp.PacketConn.LocalAddr().(*net.UDPAddr); ok {
			return a.AddrPort()
		}
	}
	return s.cfg.Listen
}

// Close stops serving and the background work (look-ups are cancelled),
// and waits for both. It may be called more than once.
func (s *Stub) Close() error {
	var errs []error
	s.closing.Do(func() {
		// Under mu: observe adds background work only while life lasts,
		// so none is added once Wait below may run.
		s.mu.Lock()
		s.stop()
		s.mu.Unlock()
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if srv != nil {
				if err := srv.Shutdown(); err != nil {
					errs = append(errs, fmt.Errorf("dns stub: stopping %s: %w", srv.Net, err))
				}
			}
		}
	})
	s.bg.Wait()
	return errors.Join(errs...)
}

// handler answers one query: forward, queue the background work for the
// answer (marking its addresses pending), answer the application, then
// let that work start.
func (s *Stub) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		s.stats.queries.Add(1)
		ctx, cancel := context.WithTimeout(s.life, time.Duration(len(s.cfg.Upstreams))*s.cfg.Timeout)
		defer cancel()
		resp, err := s.forward(ctx, req, network)
		if err != nil {
			s.stats.servfail.Add(1)
			s.log.Debug("dns stub: no upstream answered", "question", questionString(req), "err", err)
			w.WriteMsg(servFail(req))
			return
		}
		s.stats.forwarded.Add(1)
		// Answers are packed as upstream would send them: compressed.
		resp.Compress = true
		// The answer's addresses are marked pending before the
		// application has them (its first packet may follow at once),
		// but the look-up starts only once the answer is on its way.
		j := s.observe(resp)
		if err := w.WriteMsg(resp); err != nil {
			s.log.Debug("dns stub: answering the application", "question", questionString(req), "err", err)
		}
		if j != nil {
			close(j.answered)
		}
	}
}

func questionString(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return "(none)"
	}
	q := m.Question[0]
	return q.Name + " " + dns.TypeToString[q.Qtype]
}
