package conn

import (
	"context"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// armLifetime starts the conn's own lifetime for a CHILD SA: a rekey a
// tenth of Lifetime before its end (rekey: true), or its deletion at the
// end (rekey: false, FreeS/WAN's rekey=no). The engine's own timers
// (oe.child_lifetime) still run: the shorter of the two acts first.
func (c *Conns) armLifetime(cs *connState, spiIn uint32) {
	if cs.Lifetime <= 0 {
		return
	}
	at, what := cs.Lifetime, "delete"
	if cs.Rekey {
		at, what = cs.Lifetime-cs.Lifetime/10, "rekey"
	}
	tm := time.AfterFunc(at, func() {
		select {
		case <-c.closed:
			return // stopping: the engine's shutdown deletes the SAs
		default:
		}
		c.mu.Lock()
		_, live := cs.tunnels[spiIn]
		delete(cs.timers, spiIn)
		c.mu.Unlock()
		if !live {
			return
		}
		c.log.Info("conn: CHILD SA reached its lifetime", "conn", cs.Name, "spi_in", tunnel.HexSPI(spiIn), "lifetime", cs.Lifetime, "action", what)
		c.goDetached(func(ctx context.Context) {
			var err error
			if what == "rekey" {
				err = c.engine.RekeyChild(ctx, spiIn, 0)
			} else {
				err = c.engine.DeleteChild(ctx, spiIn)
			}
			if err != nil {
				c.log.Warn("conn: lifetime action failed", "conn", cs.Name, "action", what, "spi_in", tunnel.HexSPI(spiIn), "err", err)
			}
		})
	})
	c.mu.Lock()
	if cs.timers == nil {
		cs.timers = map[uint32]*time.Timer{}
	}
	cs.timers[spiIn] = tm
	c.mu.Unlock()
}

// armIKELifetime starts the conn's IKE lifetime for an IKE SA, once: a
// rekey a tenth of IKELifetime before its end (Rekey), or its deletion at
// the end. When it fires, the IKE SAs that then hold the conn's tunnels
// (the rekeyed one, or one the engine rekeyed by itself) get theirs.
func (c *Conns) armIKELifetime(cs *connState, id ike.SAID) {
	if cs.IKELifetime <= 0 || id == (ike.SAID{}) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs.ikeTimers == nil {
		cs.ikeTimers = map[ike.SAID]*time.Timer{}
	}
	if _, armed := cs.ikeTimers[id]; armed || cs.stopped {
		return
	}
	at, what := cs.IKELifetime, "delete"
	if cs.Rekey {
		at, what = cs.IKELifetime-cs.IKELifetime/10, "rekey"
	}
	cs.ikeTimers[id] = time.AfterFunc(at, func() {
		select {
		case <-c.closed:
			return
		default:
		}
		c.mu.Lock()
		delete(cs.ikeTimers, id)
		c.mu.Unlock()
		live := false
		for _, sa := range c.engine.SAs() {
			live = live || sa.ID == id
		}
		c.goDetached(func(ctx context.Context) {
			if live {
				c.log.Info("conn: IKE SA reached its lifetime", "conn", cs.Name, "ike", id.String(), "ike_lifetime", cs.IKELifetime, "action", what)
				var err error
				if what == "rekey" {
					err = c.engine.RekeyIKE(ctx, id)
				} else {
					err = c.engine.DeleteIKE(ctx, id)
				}
				if err != nil {
					c.log.Warn("conn: IKE lifetime action failed", "conn", cs.Name, "action", what, "ike", id.String(), "err", err)
				}
			}
			c.mu.Lock()
			spis := make([]uint32, 0, len(cs.tunnels))
			for spi := range cs.tunnels {
				spis = append(spis, spi)
			}
			c.mu.Unlock()
			owners := c.childOwners()
			for _, spi := range spis {
				c.armIKELifetime(cs, owners.ikeOf(c, spi))
			}
		})
	})
}

// refIKE and unrefIKE count a tunnel recorded under IKE SA id; the last
// one gone stops that IKE SA's lifetime timer (nothing of the conn is
// left under it: a tunnel moved to a rekeyed IKE SA came up, or is
// re-armed, under the new one). Conns.mu is held.
func (cs *connState) refIKE(id ike.SAID) {
	if id == (ike.SAID{}) {
		return
	}
	if cs.ikeRefs == nil {
		cs.ikeRefs = map[ike.SAID]int{}
	}
	cs.ikeRefs[id]++
}

func (cs *connState) unrefIKE(id ike.SAID) {
	n, ok := cs.ikeRefs[id]
	if !ok {
		return
	}
	if n > 1 {
		cs.ikeRefs[id] = n - 1
		return
	}
	delete(cs.ikeRefs, id)
	if tm := cs.ikeTimers[id]; tm != nil {
		tm.Stop()
		delete(cs.ikeTimers, id)
	}
}
