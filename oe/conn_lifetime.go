package oe

import (
	"context"
	"fmt"
	"time"
)

// armLifetime starts the conn's own lifetime for a CHILD SA: a rekey a
// tenth of Lifetime before its end (rekey: true), or its deletion at the
// end (rekey: false, FreeS/WAN's rekey=no). The engine's own timers
// (oe.child_lifetime) still run: the shorter of the two acts first.
func (o *OE) armLifetime(cs *connState, spiIn uint32) {
	if cs.Lifetime <= 0 {
		return
	}
	at, what := cs.Lifetime, "delete"
	if cs.Rekey {
		at, what = cs.Lifetime-cs.Lifetime/10, "rekey"
	}
	tm := time.AfterFunc(at, func() {
		select {
		case <-o.closed:
			return // the engine is gone; Close deleted the SAs
		default:
		}
		o.conns.mu.Lock()
		_, live := cs.tunnels[spiIn]
		delete(cs.timers, spiIn)
		o.conns.mu.Unlock()
		if !live {
			return
		}
		o.log.Info("conn: CHILD SA reached its lifetime", "conn", cs.Name, "spi_in", fmt.Sprintf("%08x", spiIn), "lifetime", cs.Lifetime, "action", what)
		o.goDetached(func(ctx context.Context) {
			var err error
			if what == "rekey" {
				err = o.engine.RekeyChild(ctx, spiIn, 0)
			} else {
				err = o.engine.DeleteChild(ctx, spiIn)
			}
			if err != nil {
				o.log.Warn("conn: lifetime action failed", "conn", cs.Name, "action", what, "spi_in", fmt.Sprintf("%08x", spiIn), "err", err)
			}
		})
	})
	o.conns.mu.Lock()
	if cs.timers == nil {
		cs.timers = map[uint32]*time.Timer{}
	}
	cs.timers[spiIn] = tm
	o.conns.mu.Unlock()
}
