package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/policygroups"
)

// Conn is a configured connection (a FreeS/WAN `conn`): a fixed tunnel to
// a known peer (or to road warriors, Remote invalid), beside OE. The most
// specific match wins between conns and policy groups: a conn's remote
// subnet more specific than (or as specific as) a group's prefix takes the
// traffic.
type Conn struct {
	Name string
	// Local is our address; Remote the peer's, invalid for %any.
	Local, Remote netip.Addr
	// LocalSubnets and RemoteSubnets are the client networks; empty means
	// the side's own address (host to host).
	LocalSubnets, RemoteSubnets []netip.Prefix
	// RemoteID is the identity the peer must prove; zero: its address.
	RemoteID ike.Identity
	Auth     ike.AuthKind
	// RemoteKeys are the peer's public keys from a file; nil with pubkey
	// authentication means its key is looked up in DNS, as OE does.
	RemoteKeys []crypto.PublicKey
	Mode       ike.Mode
	// IKE and ESP override the engine's proposals when their Protocol
	// is set.
	IKE, ESP ike.Policy
	// KeyingTries bounds negotiation attempts (0: forever).
	KeyingTries int
	// Lifetime is the CHILD SAs' lifetime (0: the engine's): with Rekey
	// they are rekeyed a tenth of it before it ends, without they are
	// deleted when it ends (and come back only by trap or auto=start).
	Lifetime time.Duration
	Rekey    bool
	// IKELifetime is the IKE SA's lifetime (0: the engine's): rekeyed a
	// tenth of it before its end, or deleted at its end without Rekey.
	IKELifetime time.Duration
	// DPDInterval > 0 turns on liveness checks (the engine's Liveness);
	// DPDAction says what a dead peer leaves: "clear", "hold" or
	// "restart".
	DPDInterval time.Duration
	DPDAction   string
	// Auto: "add" (respond only), "route" (trap the subnets) or "start"
	// (trap, initiate now, and keep the tunnel up).
	Auto      string
	UniqueIDs bool
	// Updown is a script run on up, down, route and unroute with the
	// FreeS/WAN PLUTO_* environment; UpdownTimeout bounds it (default
	// 10 s).
	Updown        string
	UpdownTimeout time.Duration
	// RetryBase is the pause after a failed attempt, doubled each time up
	// to a minute (default 1 s).
	RetryBase time.Duration
	// Source says where the conn was defined, for status.
	Source string
}

// localNets and remoteNets are the conn's selectors as prefixes.
func (c *Conn) localNets() []netip.Prefix {
	if len(c.LocalSubnets) > 0 {
		return c.LocalSubnets
	}
	if c.Local.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(c.Local, c.Local.BitLen())}
	}
	return nil
}

func (c *Conn) remoteNets() []netip.Prefix {
	if len(c.RemoteSubnets) > 0 {
		return c.RemoteSubnets
	}
	if c.Remote.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(c.Remote, c.Remote.BitLen())}
	}
	return nil
}

// hostToHost reports whether neither side has client subnets.
func (c *Conn) hostToHost() bool { return len(c.LocalSubnets) == 0 && len(c.RemoteSubnets) == 0 }

// Conn states, as `oemesh conn list` shows them.
const (
	connAdded       = "added"
	connRouted      = "routed"
	connNegotiating = "negotiating"
	connUp          = "up"
	connDown        = "down"
	connGaveUp      = "gave-up"
)

// connState is a conn and what oe knows of it now.
type connState struct {
	Conn
	routed      bool
	keepUp      bool // auto=start or `conn up`: restart the tunnel when it goes
	negotiating bool
	tries       int
	state       string
	lastErr     string
	lastUpdown  string
	since       time.Time
	tunnels     map[uint32]connTunnel    // by inbound SPI
	timers      map[uint32]*time.Timer   // lifetime timers by inbound SPI
	ikeTimers   map[ike.SAID]*time.Timer // IKE lifetime timers
	stop        context.CancelFunc       // the keep-up loop, if any
	stopped     bool                     // removed: background work must end
}

// connTunnel is one CHILD SA of a conn.
type connTunnel struct {
	ike      ike.SAID
	peer     netip.Addr
	peerID   ike.Identity
	local    []ike.TrafficSelector
	remote   []ike.TrafficSelector
	mode     ike.Mode
	upSince  time.Time
	verbHost bool
}

// connTable holds the conns by name, in the order they were added.
type connTable struct {
	mu     sync.Mutex
	byName map[string]*connState
	order  []string
}

func (t *connTable) get(name string) (*connState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.byName[name]
	return c, ok
}

// list returns the conns in order; callers read them under t.mu only.
func (t *connTable) list() []*connState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*connState, 0, len(t.order))
	for _, n := range t.order {
		out = append(out, t.byName[n])
	}
	return out
}

// ConnStatus is one conn as `oemesh conn list` and `oemesh status` show it.
type ConnStatus struct {
	Name          string   `json:"name"`
	State         string   `json:"state"`
	Routed        bool     `json:"routed"`
	Auto          string   `json:"auto"`
	Auth          string   `json:"auth"`
	Local         string   `json:"local"`
	Remote        string   `json:"remote"`
	LocalSubnets  []string `json:"local_subnets"`
	RemoteSubnets []string `json:"remote_subnets"`
	Tunnels       int      `json:"tunnels"`
	Peers         []string `json:"peers,omitempty"`
	Tries         int      `json:"tries"`
	KeyingTries   int      `json:"keying_tries"`
	LastError     string   `json:"last_error,omitempty"`
	LastUpdown    string   `json:"last_updown,omitempty"`
	Since         string   `json:"since"`
	Source        string   `json:"source,omitempty"`
}

// Conns lists the configured connections with their state.
func (o *OE) Conns() []ConnStatus {
	var out []ConnStatus
	now := o.cfg.Clock.Now()
	for _, cs := range o.conns.list() {
		o.conns.mu.Lock()
		s := ConnStatus{
			Name: cs.Name, State: cs.state, Routed: cs.routed, Auto: cs.Auto, Auth: authName(cs.Auth),
			Local: cs.Local.String(), Remote: "%any", Tunnels: len(cs.tunnels), Tries: cs.tries,
			KeyingTries: cs.KeyingTries, LastError: cs.lastErr, LastUpdown: cs.lastUpdown,
			Since: now.Sub(cs.since).Round(time.Second).String(), Source: cs.Source,
		}
		if cs.Remote.IsValid() {
			s.Remote = cs.Remote.String()
		}
		for _, p := range cs.localNets() {
			s.LocalSubnets = append(s.LocalSubnets, p.String())
		}
		for _, p := range cs.remoteNets() {
			s.RemoteSubnets = append(s.RemoteSubnets, p.String())
		}
		for _, t := range cs.tunnels {
			if p := t.peerID.String() + " at " + t.peer.String(); !slices.Contains(s.Peers, p) {
				s.Peers = append(s.Peers, p)
			}
		}
		slices.Sort(s.Peers)
		o.conns.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// setState moves a conn to a new state (cs must be held under conns.mu).
func (o *OE) setConnState(cs *connState, state, why string) {
	if cs.state != state {
		o.log.Debug("conn state", "conn", cs.Name, "from", cs.state, "to", state, "why", why)
		cs.state, cs.since = state, o.cfg.Clock.Now()
	}
}

// AddConn adds a conn and applies its auto setting. A conn of the same
// name must be removed first (ReplaceConn does both).
func (o *OE) AddConn(ctx context.Context, c Conn) error {
	if c.Name == "" {
		return errors.New("oe: conn without a name")
	}
	if c.Auto == "" {
		c.Auto = "add"
	}
	if !c.Remote.IsValid() && c.Auto != "add" {
		return fmt.Errorf("oe: conn %s: auto=%s needs a known peer, but remote is %%any", c.Name, c.Auto)
	}
	if c.Auth == ike.AuthKindNone {
		c.Auth = ike.AuthKindPubkey
	}
	if c.UpdownTimeout <= 0 {
		c.UpdownTimeout = 10 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	o.conns.mu.Lock()
	if o.conns.byName == nil {
		o.conns.byName = map[string]*connState{}
	}
	if _, ok := o.conns.byName[c.Name]; ok {
		o.conns.mu.Unlock()
		return fmt.Errorf("oe: conn %s exists; replace it instead", c.Name)
	}
	for _, n := range o.conns.order {
		if err := connsShadow(&o.conns.byName[n].Conn, &c); err != nil {
			o.conns.mu.Unlock()
			return err
		}
	}
	cs := &connState{Conn: c, state: connAdded, since: o.cfg.Clock.Now(), tunnels: map[uint32]connTunnel{}}
	o.conns.byName[c.Name] = cs
	o.conns.order = append(o.conns.order, c.Name)
	o.conns.mu.Unlock()
	o.log.Info("conn added", "conn", c.Name, "auto", c.Auto, "remote", cs.remoteNets(), "local", cs.localNets())
	switch c.Auto {
	case "route":
		return o.ConnRoute(ctx, c.Name)
	case "start":
		if err := o.ConnRoute(ctx, c.Name); err != nil {
			return err
		}
		o.connKeepUp(cs)
	}
	return nil
}

// connsShadow reports two conns that would take each other's traffic.
func connsShadow(a, b *Conn) error {
	if !a.Remote.IsValid() && !b.Remote.IsValid() && !idEqual(a.RemoteID, b.RemoteID) {
		return nil
	}
	for _, x := range a.remoteNets() {
		for _, y := range b.remoteNets() {
			if !x.Overlaps(y) {
				continue
			}
			for _, l1 := range a.localNets() {
				for _, l2 := range b.localNets() {
					if l1.Overlaps(l2) {
						return fmt.Errorf("oe: conn %s: remote %s overlaps %s of conn %s: one would shadow the other", b.Name, y, x, a.Name)
					}
				}
			}
		}
	}
	return nil
}

// RemoveConn takes a conn down (telling the peer), removes its trap and
// forgets it.
func (o *OE) RemoveConn(ctx context.Context, name string) error {
	cs, ok := o.conns.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	errDown := o.ConnDown(ctx, name)
	var errUnroute error
	if cs.routed {
		errUnroute = o.ConnUnroute(ctx, name)
	}
	o.conns.mu.Lock()
	cs.stopped = true
	delete(o.conns.byName, name)
	o.conns.order = slices.DeleteFunc(o.conns.order, func(n string) bool { return n == name })
	o.conns.mu.Unlock()
	o.log.Info("conn removed", "conn", name)
	return errors.Join(errDown, errUnroute)
}

// ReplaceConn removes the conn of that name, if any, and adds c.
func (o *OE) ReplaceConn(ctx context.Context, c Conn) error {
	var errRemove error
	if _, ok := o.conns.get(c.Name); ok {
		errRemove = o.RemoveConn(ctx, c.Name)
	}
	return errors.Join(errRemove, o.AddConn(ctx, c))
}

// ConnRoute traps the conn's remote subnets: their first packet starts
// the negotiation (FreeS/WAN's `ipsec auto --route`).
func (o *OE) ConnRoute(ctx context.Context, name string) error {
	cs, ok := o.conns.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.Remote.IsValid() {
		return fmt.Errorf("oe: conn %s: a road-warrior conn (remote %%any) cannot be routed", name)
	}
	o.trapMu.Lock()
	var errs []error
	for _, p := range cs.remoteNets() {
		if err := o.dp.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernel.GroupPrivate}); err != nil {
			errs = append(errs, fmt.Errorf("trap %s: %w", p, err))
		}
	}
	o.trapMu.Unlock()
	if len(errs) > 0 {
		return fmt.Errorf("oe: conn %s: route: %w", name, errors.Join(errs...))
	}
	o.conns.mu.Lock()
	cs.routed = true
	if cs.state == connAdded || cs.state == connDown || cs.state == connGaveUp {
		o.setConnState(cs, connRouted, "route")
	}
	o.conns.mu.Unlock()
	o.runUpdown(cs, "route", connTunnel{})
	return nil
}

// ConnUnroute removes the conn's traps; the policy groups' traps for the
// same prefixes (if any) come back.
func (o *OE) ConnUnroute(ctx context.Context, name string) error {
	cs, ok := o.conns.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.routed {
		return fmt.Errorf("oe: conn %s is not routed", name)
	}
	o.trapMu.Lock()
	pol := o.policy.Load()
	var errs []error
	for _, p := range cs.remoteNets() {
		var err error
		if m := pol.Lookup(p.Addr()); !m.Default() && m.Entry.Prefix == p {
			err = o.dp.SetTrap(ctx, kernel.Trap{Prefix: p, Group: kernelGroup(m.Group)})
		} else {
			err = o.dp.RemoveTrap(ctx, p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("untrap %s: %w", p, err))
		}
	}
	o.trapMu.Unlock()
	o.conns.mu.Lock()
	cs.routed = false
	if cs.state == connRouted {
		o.setConnState(cs, connAdded, "unroute")
	}
	o.conns.mu.Unlock()
	o.runUpdown(cs, "unroute", connTunnel{})
	if len(errs) > 0 {
		return fmt.Errorf("oe: conn %s: unroute: %w", name, errors.Join(errs...))
	}
	return nil
}

// ConnDown deletes the conn's IKE SAs (telling the peer) and stops
// keeping it up. A routed conn stays routed (its trap is back); an
// unrouted one stays unrouted.
func (o *OE) ConnDown(ctx context.Context, name string) error {
	cs, ok := o.conns.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	o.conns.mu.Lock()
	cs.keepUp = false
	if cs.stop != nil {
		cs.stop()
		cs.stop = nil
	}
	spis := make([]uint32, 0, len(cs.tunnels))
	for spi := range cs.tunnels {
		spis = append(spis, spi)
	}
	o.conns.mu.Unlock()
	ids := map[ike.SAID]bool{}
	for _, spi := range spis {
		ids[o.ikeOfChild(spi)] = true
	}
	var errs []error
	for id := range ids {
		err := o.engine.DeleteIKE(ctx, id)
		switch {
		case err == nil, errors.Is(err, ike.ErrSADeleted):
		case errors.Is(err, ike.ErrTimeout):
			// The peer is gone; the SA is removed all the same.
			o.log.Info("conn down: the peer did not answer our Delete", "conn", name, "ike", id.String())
		default:
			errs = append(errs, err)
		}
	}
	o.conns.mu.Lock()
	if cs.routed {
		o.setConnState(cs, connRouted, "down")
	} else {
		o.setConnState(cs, connDown, "down")
	}
	o.conns.mu.Unlock()
	return errors.Join(errs...)
}

// ConnUp negotiates the conn now (`ipsec auto --up`), trying up to its
// keying_tries. Only auto=start (and DPD action restart) bring it back
// when it goes down.
func (o *OE) ConnUp(ctx context.Context, name string) error {
	cs, ok := o.conns.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.Remote.IsValid() {
		return fmt.Errorf("oe: conn %s: a road-warrior conn (remote %%any) waits for its peers; it cannot be brought up from here", name)
	}
	done := o.connTry(cs, true)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ConnFor is the conn that takes traffic to addr, if a routed conn's remote
// subnet holding addr is at least as specific as the policy groups' match.
func (o *OE) ConnFor(addr netip.Addr) (name string, prefix netip.Prefix, ok bool) {
	cs, p := o.connForDst(addr, o.policy.Load().Lookup(addr))
	if cs == nil {
		return "", netip.Prefix{}, false
	}
	return cs.Name, p, true
}

// connForDst picks the most specific routed conn for dst, unless the
// policy match m is more specific.
func (o *OE) connForDst(dst netip.Addr, m policygroups.Match) (*connState, netip.Prefix) {
	var best *connState
	var bestP netip.Prefix
	for _, cs := range o.conns.list() {
		o.conns.mu.Lock()
		routed := cs.routed
		o.conns.mu.Unlock()
		if !routed {
			continue
		}
		for _, p := range cs.remoteNets() {
			if p.Contains(dst) && (best == nil || p.Bits() > bestP.Bits()) {
				best, bestP = cs, p
			}
		}
	}
	if best == nil {
		return nil, netip.Prefix{}
	}
	if !m.Default() && m.Entry.Prefix.Bits() > bestP.Bits() {
		return nil, netip.Prefix{} // a more specific policy group wins
	}
	return best, bestP
}

// connAcquire handles an acquire that falls to a conn: traffic from its
// local subnets starts (or joins) its negotiation; traffic from elsewhere
// (e.g. the gateway's own address toward the remote subnet) is not the
// conn's and passes in the clear, as FreeS/WAN's eroutes cover only
// subnet to subnet. It reports whether a conn took the acquire.
func (o *OE) connAcquire(ctx context.Context, a kernel.Acquire) bool {
	m := o.policy.Load().Lookup(a.Flow.Dst)
	cs, _ := o.connForDst(a.Flow.Dst, m)
	if cs == nil {
		return false
	}
	inside := false
	for _, p := range cs.localNets() {
		if p.Contains(a.Flow.Src) {
			inside = true
		}
	}
	if !inside {
		o.setShunt(ctx, a.Flow, kernel.ShuntPass, policygroups.Clear, o.cfg.ShuntLifetime,
			fmt.Sprintf("source %s is outside conn %s's local subnets %v: not carried by its tunnel", a.Flow.Src, cs.Name, cs.localNets()))
		return true
	}
	o.conns.mu.Lock()
	busy := cs.negotiating || len(cs.tunnels) > 0
	o.conns.mu.Unlock()
	if !busy {
		o.connTry(cs, false)
	}
	return true
}
