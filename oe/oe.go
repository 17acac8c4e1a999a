package oe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
	"github.com/oemesh/oemesh/policygroups"
)

// OE is the orchestrator: it keeps the data plane's traps in line with the
// policy groups, turns acquires into DNS look-ups and IKE negotiations,
// installs the resulting SAs or a shunt, and answers peers as responder.
type OE struct {
	cfg    Config
	log    *slog.Logger
	dp     kernel.Dataplane
	keys   KeySource
	engine *ike.Engine

	policy  atomic.Pointer[policygroups.Policy]
	trapMu  sync.Mutex    // serialises policy changes to the data plane
	tunnels *tunnel.Table // shared with the configured conns (oe/conn)
	gates   authGates     // the point of no return of OE initiations (authgate.go)

	mu           sync.Mutex
	negotiations map[netip.Addr]*negotiation // by target address
	shunts       map[kernel.Flow]shuntInfo

	stats counters
	// prefetches are the key look-ups PrefetchPeerKeys runs now.
	prefetches atomic.Int32
	probed     time.Time // responder tunnels due before this were probed (probe.go)
	bg         sync.WaitGroup
	runCtx     atomic.Pointer[context.Context]
	closed     chan struct{}
	closeOne   sync.Once
	// life is the orchestrator's lifetime, ended by Close once its
	// background work is done: the root of the work no negotiation owns
	// (goDetached's rekeys and deletes, Close's own shutdown).
	life    context.Context
	endLife context.CancelFunc
}

// shuntInfo is what oe remembers of a shunt it set, for `oemesh shunts`.
type shuntInfo struct {
	kernel.Shunt
	group policygroups.Group
}

// New makes an orchestrator over a data plane and DNS, and the IKE engine
// that it serves as key resolver, responder policy and CHILD SA installer.
// engineCfg carries the credentials, transport (Sender), clock, proposals
// and timers; its Keys, Policy, Installer and NullLimits.LastTraffic
// are set to OE here unless
// the caller set them: a dispatcher in front of OE and the configured
// conns (oe/dispatch) sets them to itself, and routes to OE what is OE's.
func New(cfg Config, dp kernel.Dataplane, keys KeySource, engineCfg ike.EngineConfig) (*OE, error) {
	cfg.setDefaults()
	if dp == nil || keys == nil {
		return nil, errors.New("oe: a data plane and a key source are required")
	}
	o := &OE{
		cfg: cfg, log: cfg.Logger, dp: dp, keys: keys, tunnels: cfg.Tunnels,
		negotiations: map[netip.Addr]*negotiation{},
		shunts:       map[kernel.Flow]shuntInfo{},
		closed:       make(chan struct{}),
	}
	o.life, o.endLife = context.WithCancel(context.Background())
	if o.tunnels == nil {
		o.tunnels = &tunnel.Table{}
	}
	o.policy.Store(&policygroups.Policy{})
	if engineCfg.Keys == nil {
		engineCfg.Keys = o
	}
	if engineCfg.Policy == nil {
		engineCfg.Policy = o
	}
	if engineCfg.Installer == nil {
		engineCfg.Installer = o
	}
	if engineCfg.Logger == nil {
		engineCfg.Logger = cfg.Logger
	}
	if engineCfg.NullLimits.LastTraffic == nil {
		engineCfg.NullLimits.LastTraffic = o.lastTraffic // nulltraffic.go
	}
	e, err := ike.NewEngine(engineCfg)
	if err != nil {
		return nil, fmt.Errorf("oe: IKE engine: %w", err)
	}
	o.engine = e
	return o, nil
}

// Engine is the IKE engine; the transport feeds it received packets.
func (o *OE) Engine() *ike.Engine { return o.engine }

// Policy is the policy in force.
func (o *OE) Policy() *policygroups.Policy { return o.policy.Load() }

// SetPolicy puts a new policy in force: only the traps of prefixes that
// were added, removed or changed group are touched, and established
// tunnels to peers the new policy no longer allows are torn down.
func (o *OE) SetPolicy(ctx context.Context, p *policygroups.Policy) (policygroups.Diff, error) {
	o.trapMu.Lock()
	defer o.trapMu.Unlock()
	old := o.policy.Load()
	d := policygroups.Compare(old, p)
	var errs []error
	for _, e := range d.Removed {
		if err := o.dp.RemoveTrap(ctx, e.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("remove trap %s (%s): %w", e.Prefix, e.Source, err))
		}
	}
	for _, e := range d.Added {
		if err := o.dp.SetTrap(ctx, kernel.Trap{Prefix: e.Prefix, Group: kernelGroup(e.Group)}); err != nil {
			errs = append(errs, fmt.Errorf("trap %s (%s, %s): %w", e.Prefix, e.Group, e.Source, err))
		}
	}
	for _, c := range d.Changed {
		if err := o.dp.SetTrap(ctx, kernel.Trap{Prefix: c.New.Prefix, Group: kernelGroup(c.New.Group)}); err != nil {
			errs = append(errs, fmt.Errorf("trap %s (%s → %s, %s): %w", c.New.Prefix, c.Old.Group, c.New.Group, c.New.Source, err))
		}
	}
	if xs := kernelExclusions(p); !slices.Equal(xs, kernelExclusions(old)) {
		if err := o.dp.SetExclusions(ctx, xs); err != nil {
			errs = append(errs, fmt.Errorf("port exclusions: %w", err))
		}
	}
	o.policy.Store(p)
	// Negotiations toward destinations the new policy does not initiate
	// to (clear, clear-or-private, block) end now, with its answer.
	o.stopNegotiations(errPolicyChanged, func(target netip.Addr) bool { return !p.Group(target).Initiates() })
	// Tunnels whose peer is now in clear or block are no longer allowed;
	// the configured conns' tunnels are theirs, not the policy's.
	for _, t := range o.tunnels.All() {
		if g := p.Group(t.Peer()); !g.Responds() && t.Conn == "" {
			o.log.Info("policy no longer allows tunnel; deleting it", "peer", t.Peer(), "group", g)
			spi := t.InSPI()
			o.goDetached(func(ctx context.Context) { o.engine.DeleteChild(ctx, spi) })
		}
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("oe: policy applied with errors: %w", errors.Join(errs...))
	}
	return d, nil
}

// Run handles acquires and expires and the idle timer until ctx ends or
// the data plane closes its channels.
func (o *OE) Run(ctx context.Context) error { return o.Serve(ctx, o.dp.Acquires()) }

// Serve is Run with the acquires taken from acq instead of the data plane:
// a dispatcher that hands the configured conns theirs first (oe/dispatch)
// passes on the rest. It returns when acq is closed.
func (o *OE) Serve(ctx context.Context, acq <-chan kernel.Acquire) error {
	o.runCtx.Store(&ctx)
	// The tickers run on the configured clock, so tests drive idle
	// expiry and the silent-tunnel probe by moving a fake clock.
	idle := clock.NewTicker(o.cfg.Clock, max(o.cfg.IdleTimeout/4, time.Second))
	defer idle.Stop()
	probe, stopProbe := o.probeTicks()
	defer stopProbe()
	exp := o.dp.Expires()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a, ok := <-acq:
			if !ok {
				return errors.New("oe: data plane closed its acquire stream")
			}
			o.onAcquire(ctx, a)
		case e, ok := <-exp:
			if !ok {
				return errors.New("oe: data plane closed its expire stream")
			}
			o.onExpire(ctx, e)
		case <-idle.C:
			o.expireIdle(ctx)
		case <-probe:
			o.probeSilent(ctx)
		}
	}
}

// Close deletes every IKE SA, telling peers and waiting up to
// ShutdownTimeout for their answers (the transport must still deliver
// them), and then waits for background work.
func (o *OE) Close() error {
	var err error
	o.closeOne.Do(func() {
		close(o.closed)
		ctx, cancel := context.WithTimeout(o.life, o.cfg.ShutdownTimeout)
		err = o.engine.Shutdown(ctx)
		cancel()
		// What is left waits on DNS: let it go.
		o.stopNegotiations(errStopping, func(netip.Addr) bool { return true })
		o.bg.Wait()
		o.endLife()
	})
	return err
}

// goDetached runs fn in the background with a bounded context: engine and
// data plane calls made from inside engine callbacks must not block them.
func (o *OE) goDetached(fn func(ctx context.Context)) {
	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		ctx, cancel := context.WithTimeout(o.life, o.cfg.NegotiationTimeout)
		defer cancel()
		fn(ctx)
	}()
}

func (o *OE) onExpire(ctx context.Context, e kernel.Expire) {
	switch e.Kind {
	case kernel.ExpireShunt:
		o.mu.Lock()
		delete(o.shunts, e.Flow)
		o.mu.Unlock()
		o.log.Debug("shunt expired; trap is back", "src", e.Flow.Src, "dst", e.Flow.Dst)
	case kernel.ExpireSoft:
		spi := e.SA.InSPI
		o.log.Info("SA reached its soft limit: rekeying", "peer", e.SA.Peer, "spi_in", tunnel.HexSPI(spi))
		o.goDetached(func(ctx context.Context) {
			if err := o.engine.RekeyChild(ctx, spi, 0); err != nil {
				o.log.Warn("rekey failed", "spi_in", tunnel.HexSPI(spi), "err", err)
			}
		})
	case kernel.ExpireHard:
		spi := e.SA.InSPI
		o.log.Info("SA reached its hard limit", "peer", e.SA.Peer, "spi_in", tunnel.HexSPI(spi))
		o.goDetached(func(ctx context.Context) { o.engine.DeleteChild(ctx, spi) })
	}
}

// expireIdle deletes tunnels idle longer than IdleTimeout, with a Delete to
// the peer.
func (o *OE) expireIdle(ctx context.Context) {
	now := o.cfg.Clock.Now()
	for _, t := range o.tunnels.All() {
		if t.Replaced || t.Conn != "" {
			continue // a conn's tunnel lives as its conn says
		}
		c, err := o.dp.SACounters(ctx, t.ID)
		if err != nil {
			continue
		}
		last := t.Created
		if c.LastUse.After(last) {
			last = c.LastUse
		}
		if now.Sub(last) < o.cfg.IdleTimeout {
			continue
		}
		o.stats.idleDeletes.Add(1)
		o.log.Info("tunnel idle: deleting", "peer", t.Peer(), "idle", now.Sub(last).Round(time.Second))
		id := t.IKE
		o.goDetached(func(ctx context.Context) { o.engine.DeleteIKE(ctx, id) })
	}
}

// Claim traps p in group private for another user of the data plane (a
// configured conn, oe/conn) whatever the policy says of it, until Release.
// Policy changes and claims are serialised.
func (o *OE) Claim(ctx context.Context, p netip.Prefix) error {
	o.trapMu.Lock()
	defer o.trapMu.Unlock()
	return o.dp.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernel.GroupPrivate})
}

// Release gives a claimed prefix back: the policy's trap for exactly p
// comes back, or there is none.
func (o *OE) Release(ctx context.Context, p netip.Prefix) error {
	o.trapMu.Lock()
	defer o.trapMu.Unlock()
	if m := o.policy.Load().Lookup(p.Addr()); !m.Default() && m.Entry.Prefix == p {
		return o.dp.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernelGroup(m.Group)})
	}
	return o.dp.RemoveTrap(ctx, p)
}

// PassShunt lets a flow out in the clear for ShuntLifetime, listed in
// Shunts under group clear with its reason: for traffic a trap caught that
// nobody negotiates for (toward a conn's remote subnet from outside its
// local subnets).
func (o *OE) PassShunt(ctx context.Context, f kernel.Flow, reason string) {
	o.setShunt(ctx, f, kernel.ShuntPass, policygroups.Clear, o.cfg.ShuntLifetime, reason)
}
