package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// Dispatcher owns OE, the configured conns and their engine, and routes
// the engine's calls and the data plane's acquires between them.
type Dispatcher struct {
	dp      kernel.Dataplane
	oe      *oe.OE
	conns   *conn.Conns
	tunnels *tunnel.Table
	// hooks the caller set on the engine, called after the conns'.
	onChildUp   func(ike.ChildSAInfo)
	onChildDown func(ike.ChildSAInfo, error)
}

// Config is OE's and the conns' configuration. The conns' IKE port,
// negotiation timeout, clock and logger default to OE's.
type Config struct {
	OE    oe.Config
	Conns conn.Config
}

// New builds OE over the data plane and DNS, the engine (from engineCfg,
// whose Keys, Policy and Installer are the dispatcher; OnChildUp and
// OnChildDown, if set, still run), and an empty set of conns beside it.
func New(cfg Config, dp kernel.Dataplane, keys oe.KeySource, engineCfg ike.EngineConfig) (*Dispatcher, error) {
	if dp == nil {
		return nil, errors.New("dispatch: a data plane is required")
	}
	d := &Dispatcher{dp: dp, tunnels: &tunnel.Table{}, onChildUp: engineCfg.OnChildUp, onChildDown: engineCfg.OnChildDown}
	engineCfg.Keys, engineCfg.Policy, engineCfg.Installer = d, d, d
	engineCfg.OnChildUp, engineCfg.OnChildDown = d.childUp, d.childDown
	if engineCfg.Credentials.IDFor == nil {
		// A conn's own local_id, as responder: the conns exist before the
		// engine receives anything (see below).
		engineCfg.Credentials.IDFor = func(peer ike.Identity, remote netip.Addr, idr ike.Identity) (ike.Identity, bool) {
			return d.conns.LocalIDFor(peer, remote, idr)
		}
	}
	cfg.OE.Tunnels = d.tunnels
	// The engine is built inside oe.New with d in it, before d knows OE
	// and the conns: nothing reaches it until the transport feeds it
	// packets and Run feeds acquires, both after New returns.
	o, err := oe.New(cfg.OE, dp, keys, engineCfg)
	if err != nil {
		return nil, err
	}
	cc := cfg.Conns
	if cc.IKEPort == 0 {
		cc.IKEPort = cfg.OE.IKEPort
	}
	if cc.NegotiationTimeout == 0 {
		cc.NegotiationTimeout = cfg.OE.NegotiationTimeout
	}
	if cc.Now == nil && cfg.OE.Clock != nil {
		cc.Now = cfg.OE.Clock.Now
	}
	if cc.Logger == nil {
		cc.Logger = cfg.OE.Logger
	}
	if cc.Classify == nil {
		cc.Classify = oe.FailureClass
	}
	d.oe = o
	d.conns = conn.New(cc, dp, o.Engine(), d.tunnels, o)
	return d, nil
}

// OE is the opportunistic-encryption orchestrator.
func (d *Dispatcher) OE() *oe.OE { return d.oe }

// Conns are the configured conns.
func (d *Dispatcher) Conns() *conn.Conns { return d.conns }

// Engine is the IKE engine; the transport feeds it received packets.
func (d *Dispatcher) Engine() *ike.Engine { return d.oe.Engine() }

// Run hands the data plane's acquires to the conns or to OE, and runs OE
// (expires, idle and probe timers), until ctx ends or the data plane
// closes its channels.
func (d *Dispatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rest := make(chan kernel.Acquire)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(rest)
		d.route(ctx, d.dp.Acquires(), rest)
	}()
	err := d.oe.Serve(ctx, rest)
	cancel()
	wg.Wait()
	return err
}

// route gives each acquire to the conns, or passes it to OE on rest.
func (d *Dispatcher) route(ctx context.Context, in <-chan kernel.Acquire, rest chan<- kernel.Acquire) {
	for {
		select {
		case <-ctx.Done():
			return
		case a, ok := <-in:
			if !ok {
				return
			}
			taken, pass := d.conns.Acquire(a)
			if pass != "" {
				d.oe.PassShunt(ctx, a.Flow, pass)
			}
			if taken {
				continue
			}
			select {
			case rest <- a:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Close stops the conns' background work, then closes OE, which deletes
// every IKE SA (telling peers) and waits for its own.
func (d *Dispatcher) Close() error {
	d.conns.Close()
	if err := d.oe.Close(); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}
