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
	// EarlyLookup (dns.stub.early_lookup) starts the key look-up at the
	// name of an A or AAAA query when the query arrives, in parallel with
	// the upstream exchange, instead of after the answer (early.go). It
	// costs one look-up per name whose answer turns out not to be in an
	// OE group (Stats.EarlyWasted). Only with a Binder.
	EarlyLookup bool
	// Hold (dns.stub.hold), when positive, holds an answer with addresses
	// in an OE group until the negotiations with them that the answer
	// prestarted are over (up or failed), at most Hold from when the
	// upstream answer arrived (hold.go): the application's first packet
	// then finds its tunnel up, and the wait moves to the DNS answer.
	// Needs Prestart and AwaitTunnel; 0: answers are never held.
	Hold time.Duration
	// AwaitTunnel blocks until the negotiation with addr running now, if
	// any, is over, or ctx ends; it reports the negotiation's failure.
	// Needed by Hold.
	AwaitTunnel func(ctx context.Context, addr netip.Addr) error
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
	earlies map[string]*early             // by name: look-ups started at query time (early.go)
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
	if cfg.Hold < 0 {
		return nil, fmt.Errorf("dns stub: negative hold %v", cfg.Hold)
	}
	if cfg.Hold > 0 && (cfg.Prestart == nil || cfg.AwaitTunnel == nil) {
		return nil, errors.New("dns stub: holding answers needs prestarts (dns.prestart) to wait for")
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
		earlies: map[string]*early{},
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
	pc, ln, err := s.listen()
	if err != nil {
		return err
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
		"bind", s.cfg.Binder != nil, "prestart", s.cfg.Prestart != nil,
		"early_lookup", s.cfg.EarlyLookup && s.cfg.Binder != nil, "hold", s.cfg.Hold)
	return nil
}

// listen opens the UDP and TCP sockets on Config.Listen. With port 0
// (tests), TCP takes the port the system gave UDP; when that TCP port is
// taken (by any process's connection), it tries another.
func (s *Stub) listen() (net.PacketConn, net.Listener, error) {
	tries := 1
	if s.cfg.Listen.Port() == 0 {
		tries = 20
	}
	var err error
	for range tries {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", s.cfg.Listen.String())
		if err != nil {
			return nil, nil, fmt.Errorf("dns stub: listen udp %s: %w", s.cfg.Listen, err)
		}
		var ln net.Listener
		ln, err = net.Listen("tcp", pc.LocalAddr().(*net.UDPAddr).AddrPort().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("dns stub: listen tcp %s: %w", s.cfg.Listen, err)
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

// handler answers one query: start the early key look-up at its name
// (if on), forward, queue the background work for the answer (marking
// its addresses pending), answer the application, then let that work
// start. With Hold, the work starts first and the answer waits for it.
func (s *Stub) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		s.stats.queries.Add(1)
		e := s.startEarly(req)
		ctx, cancel := context.WithTimeout(s.life, time.Duration(len(s.cfg.Upstreams))*s.cfg.Timeout)
		defer cancel()
		resp, err := s.forward(ctx, req, network)
		arrived := time.Now()
		if err != nil {
			s.endEarly(e, false)
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
		j, made := s.observe(resp, e)
		s.endEarly(e, j != nil && j.early == e)
		if j != nil && s.cfg.Hold > 0 {
			if made {
				close(j.answered) // held: the work must not wait for the answer
				made = false
			}
			s.hold(j, arrived)
		}
		if err := w.WriteMsg(resp); err != nil {
			s.log.Debug("dns stub: answering the application", "question", questionString(req), "err", err)
		}
		if made {
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
