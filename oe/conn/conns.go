package conn

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
	"github.com/oemesh/oemesh/policygroups"
)

// Conns holds the configured conns and runs them: their traps, retries,
// updown scripts, lifetimes and unique_ids. It installs the CHILD SAs of
// its conns in the tunnel table it shares with OE; a dispatcher in front
// of the engine (oe/dispatch) hands it what is its.
type Conns struct {
	cfg     Config
	log     *slog.Logger
	dp      kernel.Dataplane
	engine  *ike.Engine
	tunnels *tunnel.Table
	traps   Traps

	mu     sync.Mutex // guards the table and every connState
	byName map[string]*connState
	// all holds the conns in the order they were added. Add and Remove
	// replace the slice, never write into it, so list hands it out as it
	// is: the responder reads it several times a handshake.
	all []*connState

	stats  counters
	base   context.Context // the keep-up loops' parent; cancelled by Close
	cancel context.CancelFunc
	bgMu   sync.Mutex // orders bg.Add after Close against bg.Wait
	bg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
}

// Traps is the owner of the data plane's traps and of the policy groups
// (*oe.OE): conns borrow their remote subnets' traps from it, and the
// policy's match for a destination decides whether a conn or a policy
// group takes its traffic (the most specific wins).
type Traps interface {
	// Policy is the policy groups' policy in force.
	Policy() *policygroups.Policy
	// Claim traps p for a conn (group private) until Release.
	Claim(ctx context.Context, p netip.Prefix) error
	// Release gives p back to the policy groups' trap for it, or none.
	Release(ctx context.Context, p netip.Prefix) error
}

// Config tunes the conns. Zero values take the documented defaults.
type Config struct {
	// IKEPort is the peers' IKE port (default 500).
	IKEPort uint16
	// NegotiationTimeout bounds one attempt (default 30 s).
	NegotiationTimeout time.Duration
	// Classify names a failed attempt for the failure counters (OE's
	// oe.FailureClass); nil counts every failure as "ike-error".
	Classify func(error) string
	// Now is the time source (default time.Now).
	Now func() time.Time
	// Cert is the certificate a conn with auth cert authenticates us
	// with, by conn name: asked at each initiation, so that a renewal
	// (SIGHUP) is used from the next one on. nil, or a nil answer: the
	// engine's default certificate (ike.InitiateOptions.Cert).
	Cert   func(conn string) *ike.CertCredential
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.IKEPort == 0 {
		c.IKEPort = 500
	}
	if c.NegotiationTimeout <= 0 {
		c.NegotiationTimeout = 30 * time.Second
	}
	if c.Classify == nil {
		c.Classify = func(error) string { return "ike-error" }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// New makes an empty set of conns over a data plane and an engine, sharing
// tunnels with OE, which lends it traps.
func New(cfg Config, dp kernel.Dataplane, engine *ike.Engine, tunnels *tunnel.Table, traps Traps) *Conns {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Conns{
		cfg: cfg, log: cfg.Logger, dp: dp, engine: engine, tunnels: tunnels, traps: traps,
		byName: map[string]*connState{},
		base:   ctx, cancel: cancel, closed: make(chan struct{}),
	}
}

// Close stops the keep-up loops and timers and waits for background work.
// Call it before the engine shuts down: the tunnels that go down then are
// not brought back.
func (c *Conns) Close() {
	c.once.Do(func() {
		c.bgMu.Lock()
		close(c.closed)
		c.bgMu.Unlock()
		c.cancel()
		c.bg.Wait()
	})
}

// goDetached runs fn in the background with a bounded context under the
// conns' lifetime (ended by Close): engine and data plane calls made from
// inside engine callbacks must not block them. After Close it runs
// nothing.
func (c *Conns) goDetached(fn func(ctx context.Context)) {
	if !c.goBackground() {
		return
	}
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(c.base, c.cfg.NegotiationTimeout)
		defer cancel()
		fn(ctx)
	}()
}

// goBackground counts a background goroutine about to start, unless Close
// has begun: then it reports false and nothing may start.
func (c *Conns) goBackground() bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	select {
	case <-c.closed:
		return false
	default:
	}
	c.bg.Add(1)
	return true
}

//go:generate go tool stringer -type=State -linecomment

// State is where a conn is in its life, as `oemesh conn list` shows it.
type State uint8

// Conn states. The zero value is no state.
const (
	StateAdded       State = iota + 1 // added
	StateRouted                       // routed
	StateNegotiating                  // negotiating
	StateUp                           // up
	StateDown                         // down
	StateGaveUp                       // gave-up
)

// connState is a conn and what is known of it now (guarded by Conns.mu).
type connState struct {
	Conn
	routed      bool
	keepUp      bool // auto=start or `conn up`: restart the tunnel when it goes
	negotiating bool
	tries       int
	state       State
	lastErr     string
	lastUpdown  string
	since       time.Time
	tunnels     map[uint32]connTunnel    // by inbound SPI
	index       tunnelIndex              // tunnels by peer address and identity
	timers      map[uint32]*time.Timer   // lifetime timers by inbound SPI
	ikeTimers   map[ike.SAID]*time.Timer // IKE lifetime timers
	stop        context.CancelFunc       // the keep-up loop, if any
	stopped     bool                     // removed: background work must end
	// ikeRefs counts the live tunnels recorded under each IKE SA (their
	// connTunnel.ike): when the last goes, so does that IKE SA's timer.
	// A conn serving many peers would otherwise keep a timer per IKE SA
	// it ever held, for up to its IKE lifetime.
	ikeRefs map[ike.SAID]int
	// lnets and rnets are the Conn's localNets and remoteNets, taken when
	// it was added: a conn without subnets would build its host prefix on
	// every call, several a handshake. Read only.
	lnets, rnets []netip.Prefix
}

// localNets and remoteNets are the conn's, as Conn's methods give them.
func (cs *connState) localNets() []netip.Prefix {
	if cs.lnets != nil {
		return cs.lnets
	}
	return cs.Conn.localNets()
}

func (cs *connState) remoteNets() []netip.Prefix {
	if cs.rnets != nil {
		return cs.rnets
	}
	return cs.Conn.remoteNets()
}

// connTunnel is one CHILD SA of a conn.
type connTunnel struct {
	ike      ike.SAID
	peer     netip.Addr
	peerID   ike.Identity
	idKey    string // ike.IdentityKey(peerID), taken once for the index
	local    []ike.TrafficSelector
	remote   []ike.TrafficSelector
	mode     ike.Mode
	upSince  time.Time
	verbHost bool
}

func (c *Conns) get(name string) (*connState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.byName[name]
	return cs, ok
}

// list returns the conns in order, to read and never to write into; their
// fields are read under c.mu only.
func (c *Conns) list() []*connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all
}

// setState moves a conn to a new state (cs must be held under c.mu).
func (c *Conns) setState(cs *connState, state State, why string) {
	if cs.state != state {
		// Checked first: the line's arguments cost four allocations
		// even when debug is off, on every tunnel a road-warrior conn
		// brings up after an idle spell.
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("conn state", "conn", cs.Name, "from", cs.state, "to", state, "why", why)
		}
		cs.state, cs.since = state, c.cfg.Now()
	}
}

// counters are the conns' share of the daemon's metrics.
type counters struct {
	acquires, refused, tunnelsUp atomic.Uint64

	mu       sync.Mutex
	failures map[string]uint64
}

func (s *counters) fail(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string]uint64{}
	}
	s.failures[reason]++
}

// Stats is a snapshot of the conns' counters, in the sense of oe.Stats:
// the daemon reports the sum of both.
type Stats struct {
	Acquires  uint64            // acquires a conn took
	Refused   uint64            // peers refused as a conn's responder
	TunnelsUp uint64            // CHILD SAs installed for conns
	Failures  map[string]uint64 // failed attempts, by oe.FailureClass
}

// Stats returns the counters.
func (c *Conns) Stats() Stats {
	c.stats.mu.Lock()
	f := maps.Clone(c.stats.failures)
	c.stats.mu.Unlock()
	return Stats{Acquires: c.stats.acquires.Load(), Refused: c.stats.refused.Load(),
		TunnelsUp: c.stats.tunnelsUp.Load(), Failures: f}
}
