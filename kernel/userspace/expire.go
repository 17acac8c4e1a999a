package userspace

import (
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// expireLoop checks lifetimes every Tick, and at once when the data path
// saw a byte limit crossed. It is the only sender on the Expires channel.
func (d *Device) expireLoop() {
	defer d.wg.Done()
	tk := time.NewTicker(d.cfg.Tick)
	defer tk.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-tk.C:
		case <-d.wake:
		}
		for _, ev := range d.expiry(d.clock.Now()) {
			select {
			case d.expires <- ev:
			case <-d.done:
				return
			}
		}
	}
}

// releaseIdle drops the AEAD state of each direction that has carried no
// packet for idle (counting from install when none ever did).
func (p *pair) releaseIdle(now time.Time, idle time.Duration) {
	for _, h := range [...]struct {
		c   *espCipher
		ctr *trafficCounters
	}{{&p.in.espCipher, &p.in.ctr}, {&p.out.espCipher, &p.out.ctr}} {
		last := h.ctr.last()
		if last.IsZero() {
			last = p.added
		}
		if now.Sub(last) >= idle {
			h.c.release()
		}
	}
}

// expiry applies every limit reached at now: SA pairs past their soft
// limit are reported once, past their hard limit reported and removed;
// shunts past their lifetime removed (the trap is back); SPI reservations
// lapse (ExpireSPI); hold queues waiting too long are dropped. It returns the events
// to send.
func (d *Device) expiry(now time.Time) []kernel.Expire {
	var evs []kernel.Expire
	d.routeMu.Lock() // a hard expiry removes routes (device.go: lock order)
	defer d.routeMu.Unlock()
	d.mu.Lock()
	var gone []*pair
	shuntsChanged := false
	for id, p := range d.pairs {
		if d.cfg.CipherIdle > 0 {
			p.releaseIdle(now, d.cfg.CipherIdle)
		}
		kind, spi := p.checkLimits(now)
		if kind == 0 {
			continue
		}
		evs = append(evs, kernel.Expire{Kind: kind, SA: id, SPI: spi, Time: now})
		d.log.Debug("SA expired", "kind", kind, "peer", id.Peer, "spi", spi)
		if kind == kernel.ExpireHard {
			d.dropPair(id)
			if err := d.removeSARoutes(p.remote); err != nil {
				d.log.Warn("SA expired: restoring its routes", "peer", id.Peer, "err", err)
			}
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		d.pairs, d.pairsPeak = shrunk(d.pairs, d.pairsPeak)
	}
	for f, s := range d.shunts {
		if !s.expires.IsZero() && !now.Before(s.expires) {
			delete(d.shunts, f)
			shuntsChanged = true
			evs = append(evs, kernel.Expire{Kind: kernel.ExpireShunt, Flow: f, Time: now})
		}
	}
	for spi, r := range d.spis {
		if !now.Before(r.until) {
			delete(d.spis, spi)
			evs = append(evs, kernel.Expire{Kind: kernel.ExpireSPI, SA: kernel.SAPairID{Peer: r.peer, InSPI: spi}, SPI: spi, Time: now})
		}
	}
	if len(gone) > 0 || shuntsChanged {
		d.update(func(t *tables) *tables {
			for _, p := range gone {
				t = t.withoutPair(p)
			}
			if shuntsChanged {
				t = t.withShunts(d.shunts)
			}
			return t
		})
	}
	d.mu.Unlock()
	for _, r := range d.hold.expired(now, d.cfg.HoldTimeout) {
		d.drop(nil, dropHoldTimeout, uint64(len(r.pkts)))
		for _, p := range r.pkts {
			d.pools.put(p.buf)
		}
	}
	return evs
}
