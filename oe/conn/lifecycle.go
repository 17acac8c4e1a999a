package conn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// Add adds a conn and applies its auto setting. A conn of the same name
// must be removed first (Replace does both).
func (c *Conns) Add(ctx context.Context, cn Conn) error {
	if cn.Name == "" {
		return errors.New("oe: conn without a name")
	}
	if cn.Auto == "" {
		cn.Auto = "add"
	}
	if !cn.Remote.IsValid() && cn.Auto != "add" {
		return fmt.Errorf("oe: conn %s: auto=%s needs a known peer, but remote is %%any", cn.Name, cn.Auto)
	}
	if cn.Auth == ike.AuthKindNone {
		cn.Auth = ike.AuthKindPubkey
	}
	if !cn.Mode.Valid() {
		return fmt.Errorf("oe: conn %s: mode is %v; set ike.ModeTunnel or ike.ModeTransport", cn.Name, cn.Mode)
	}
	if cn.UpdownTimeout <= 0 {
		cn.UpdownTimeout = 10 * time.Second
	}
	if cn.RetryBase <= 0 {
		cn.RetryBase = time.Second
	}
	c.mu.Lock()
	if _, ok := c.byName[cn.Name]; ok {
		c.mu.Unlock()
		return fmt.Errorf("oe: conn %s exists; replace it instead", cn.Name)
	}
	for _, x := range c.all {
		if err := shadows(&x.Conn, &cn); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	cs := &connState{Conn: cn, state: StateAdded, since: c.cfg.Now(), tunnels: map[uint32]connTunnel{},
		lnets: cn.localNets(), rnets: cn.remoteNets()}
	c.byName[cn.Name] = cs
	c.all = append(slices.Clip(c.all), cs) // a new array: list's callers hold the old
	c.mu.Unlock()
	c.log.Info("conn added", "conn", cn.Name, "auto", cn.Auto, "remote", cs.remoteNets(), "local", cs.localNets())
	switch cn.Auto {
	case "route":
		return c.Route(ctx, cn.Name)
	case "start":
		if err := c.Route(ctx, cn.Name); err != nil {
			return err
		}
		c.keepUp(cs)
	}
	return nil
}

// Remove takes a conn down (telling the peer), removes its trap and
// forgets it.
func (c *Conns) Remove(ctx context.Context, name string) error {
	cs, ok := c.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	errDown := c.Down(ctx, name)
	var errUnroute error
	if cs.routed {
		errUnroute = c.Unroute(ctx, name)
	}
	c.mu.Lock()
	cs.stopped = true
	delete(c.byName, name)
	c.all = slices.DeleteFunc(slices.Clone(c.all), func(x *connState) bool { return x.Name == name })
	c.mu.Unlock()
	c.log.Info("conn removed", "conn", name)
	return errors.Join(errDown, errUnroute)
}

// Replace removes the conn of that name, if any, and adds cn.
func (c *Conns) Replace(ctx context.Context, cn Conn) error {
	var errRemove error
	if _, ok := c.get(cn.Name); ok {
		errRemove = c.Remove(ctx, cn.Name)
	}
	return errors.Join(errRemove, c.Add(ctx, cn))
}

// Route traps the conn's remote subnets: their first packet starts the
// negotiation (FreeS/WAN's `ipsec auto --route`).
func (c *Conns) Route(ctx context.Context, name string) error {
	cs, ok := c.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.Remote.IsValid() {
		return fmt.Errorf("oe: conn %s: a road-warrior conn (remote %%any) cannot be routed", name)
	}
	var errs []error
	for _, p := range cs.remoteNets() {
		if err := c.traps.Claim(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("trap %s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("oe: conn %s: route: %w", name, errors.Join(errs...))
	}
	c.mu.Lock()
	cs.routed = true
	if cs.state == StateAdded || cs.state == StateDown || cs.state == StateGaveUp {
		c.setState(cs, StateRouted, "route")
	}
	c.mu.Unlock()
	c.runUpdown(cs, "route", connTunnel{})
	return nil
}

// Unroute removes the conn's traps; the policy groups' traps for the same
// prefixes (if any) come back.
func (c *Conns) Unroute(ctx context.Context, name string) error {
	cs, ok := c.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.routed {
		return fmt.Errorf("oe: conn %s is not routed", name)
	}
	var errs []error
	for _, p := range cs.remoteNets() {
		if err := c.traps.Release(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("untrap %s: %w", p, err))
		}
	}
	c.mu.Lock()
	cs.routed = false
	if cs.state == StateRouted {
		c.setState(cs, StateAdded, "unroute")
	}
	c.mu.Unlock()
	c.runUpdown(cs, "unroute", connTunnel{})
	if len(errs) > 0 {
		return fmt.Errorf("oe: conn %s: unroute: %w", name, errors.Join(errs...))
	}
	return nil
}

// Down deletes the conn's IKE SAs (telling the peer) and stops keeping it
// up. A routed conn stays routed (its trap is back); an unrouted one stays
// unrouted.
func (c *Conns) Down(ctx context.Context, name string) error {
	cs, ok := c.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	c.mu.Lock()
	cs.keepUp = false
	if cs.stop != nil {
		cs.stop()
		cs.stop = nil
	}
	spis := make([]uint32, 0, len(cs.tunnels))
	for spi := range cs.tunnels {
		spis = append(spis, spi)
	}
	c.mu.Unlock()
	ids := map[ike.SAID]bool{}
	owners := c.childOwners()
	for _, spi := range spis {
		ids[owners.ikeOf(c, spi)] = true
	}
	var errs []error
	for id := range ids {
		err := c.engine.DeleteIKE(ctx, id)
		switch {
		case err == nil, errors.Is(err, ike.ErrSADeleted):
		case errors.Is(err, ike.ErrTimeout):
			// The peer is gone; the SA is removed all the same.
			c.log.Info("conn down: the peer did not answer our Delete", "conn", name, "ike", id.String())
		default:
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	if cs.routed {
		c.setState(cs, StateRouted, "down")
	} else {
		c.setState(cs, StateDown, "down")
	}
	c.mu.Unlock()
	return errors.Join(errs...)
}

// Up negotiates the conn now (`ipsec auto --up`), trying up to its
// keying_tries. Only auto=start (and DPD action restart) bring it back
// when it goes down.
func (c *Conns) Up(ctx context.Context, name string) error {
	cs, ok := c.get(name)
	if !ok {
		return fmt.Errorf("oe: no conn %s", name)
	}
	if !cs.Remote.IsValid() {
		return fmt.Errorf("oe: conn %s: a road-warrior conn (remote %%any) waits for its peers; it cannot be brought up from here", name)
	}
	done := c.try(cs, true)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
