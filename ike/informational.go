package ike

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// ErrPeerDeleted is reported (to OnIKEDown and OnChildDown) when the peer
// deleted an SA.
var ErrPeerDeleted = errors.New("ike: deleted by the peer")

// errLocalDelete is reported when we deleted an SA.
var errLocalDelete = errors.New("ike: deleted locally")

// handleInformational answers an INFORMATIONAL request: Delete payloads
// for the IKE SA or CHILD SAs, error notifies (logged), or nothing at all
// (a liveness check).
func (sa *ikeSA) handleInformational(m *wire.Message) {
	var resp []wire.Payload
	var inSPIs [][]byte
	deleteIKE := false
	for _, p := range m.Payloads {
		switch q := p.(type) {
		case *wire.Delete:
			switch q.Protocol {
			case ProtocolIKE:
				deleteIKE = true
			case ProtocolESP:
				for _, s := range q.SPIs {
					c := sa.childByOut(spiValue(s))
					if c == nil {
						continue
					}
					// RFC 7296 §1.4.1: if we already asked to delete it,
					// the answer carries no Delete for it.
					if c.state != childDeleting {
						inSPIs = append(inSPIs, spiBytes(c.SPIIn))
					}
					sa.dropChild(c, ErrPeerDeleted)
				}
			}
		case *wire.Notify:
			if q.NotifyType.IsError() {
				sa.e.log.Info("ike: peer reports an error", "remote", sa.remote, "notify", q.NotifyType)
			}
		}
	}
	if deleteIKE {
		sa.e.log.Info("ike: peer deleted the IKE SA", "remote", sa.remote, "state", sa.state.String(),
			"spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "children", len(sa.children))
		sa.respond(m, nil)
		if sa.rekey != nil && sa.rekey.peerNew != nil {
			// The peer won a rekey collision and deletes the old SA: its
			// new SA carries the CHILD SAs on.
			sa.moveChildren(sa.rekey.peerNew)
		}
		sa.die(ErrPeerDeleted, true)
		return
	}
	if len(inSPIs) > 0 {
		resp = append(resp, &wire.Delete{Protocol: ProtocolESP, SPIs: inSPIs})
	}
	sa.respond(m, resp)
}

// sendDelete tells the peer we delete the IKE SA, without waiting for the
// answer: the SA is about to die (authentication failed, Initiate was
// cancelled, the engine closes).
func (sa *ikeSA) sendDelete() {
	if sa.cout == nil || sa.state == stInitSent || sa.state == stDead || sa.state == stHalfOpen {
		return
	}
	h := wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: wire.Informational, MessageID: sa.nextID}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	sa.nextID++
	pkts, err := sa.protect(h, []wire.Payload{&wire.Delete{Protocol: ProtocolIKE}})
	if err != nil {
		return
	}
	sa.transmit(pkts)
}

// findSA returns the SA with these SPIs.
func (e *Engine) findSA(id SAID) *ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, spi := range []SPI{id.SPIi, id.SPIr} {
		if sa := e.sas[spi]; sa != nil && sa.spii == id.SPIi && sa.spir == id.SPIr {
			return sa
		}
	}
	return nil
}

// wait blocks until done is closed (or receives) or ctx ends.
func wait(ctx context.Context, done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) deleteIKE(ctx context.Context, id SAID) error {
	sa := e.findSA(id)
	if sa == nil {
		return fmt.Errorf("ike: delete: no IKE SA %v", id)
	}
	done := make(chan error, 1)
	sa.lock()
	if sa.state != stEstablished && sa.state != stRekeyed {
		sa.die(errLocalDelete, false)
		sa.unlock()
		return nil
	}
	sa.deleteLocked(done)
	sa.unlock()
	return wait(ctx, done)
}

// deleteLocked sends INFORMATIONAL Delete(IKE) and removes the SA when
// the answer comes (or does not).
func (sa *ikeSA) deleteLocked(done chan error) {
	sa.setState(stDeleting)
	sa.enqueue(&request{exch: wire.Informational, payloads: []wire.Payload{&wire.Delete{Protocol: ProtocolIKE}},
		onResponse: func(*wire.Message) {
			sa.die(errLocalDelete, false)
			if done != nil {
				done <- nil
			}
		},
		onFail: func(err error) {
			sa.die(errLocalDelete, false)
			if errors.Is(err, ErrPeerDeleted) {
				err = nil // both sides deleted it at once: done all the same
			}
			if done != nil {
				done <- err
			}
		}})
}

func (e *Engine) deleteChild(ctx context.Context, spiIn uint32) error {
	sa := e.findChild(spiIn)
	if sa == nil {
		return fmt.Errorf("ike: delete: no CHILD SA with inbound SPI %08x", spiIn)
	}
	done := make(chan error, 1)
	sa.lock()
	c := sa.childByIn(spiIn)
	if c == nil || sa.state != stEstablished || (c.state != childInstalled && c.state != childRekeyed) {
		sa.unlock()
		return fmt.Errorf("ike: delete: CHILD SA %08x cannot be deleted now", spiIn)
	}
	sa.deleteChildLocked(c, done)
	sa.unlock()
	return wait(ctx, done)
}

// deleteChildLocked sends INFORMATIONAL Delete(ESP) for c and removes it
// when the answer comes.
func (sa *ikeSA) deleteChildLocked(c *childSA, done chan error) {
	sa.setChildState(c, childDeleting)
	sa.enqueue(&request{exch: wire.Informational, payloads: []wire.Payload{&wire.Delete{Protocol: ProtocolESP, SPIs: [][]byte{spiBytes(c.SPIIn)}}},
		onResponse: func(*wire.Message) {
			sa.dropChild(c, errLocalDelete)
			if done != nil {
				done <- nil
			}
		},
		onFail: func(err error) {
			sa.dropChild(c, errLocalDelete)
			if done != nil {
				done <- err
			}
		}})
}

// livenessSpread is how much shorter, as a fraction of the configured
// liveness interval, an SA's own interval may be, drawn per SA: SAs
// made in a burst then check their peers spread over a quarter of the
// interval, and drift further apart with each check, instead of
// probing in that burst every interval. Shorter, never longer: a dead
// peer is still noticed within the configured interval.
const livenessSpread = 0.25

// startTimers arms the timers of an established SA: liveness, NAT
// keepalive, rekey and hard expiry.
func (sa *ikeSA) startTimers() {
	e := sa.e
	if e.cfg.Liveness > 0 {
		sa.timers.livenessEvery = e.cfg.Liveness
		if spread := time.Duration(float64(e.cfg.Liveness) * livenessSpread); spread > 0 {
			sa.timers.livenessEvery -= mrand.N(spread)
		}
		sa.timers.liveness = e.sched.AfterFunc(sa.timers.livenessEvery, sa.livenessCheck)
	}
	if sa.behindNAT {
		if _, ok := e.cfg.Sender.(KeepaliveSender); ok {
			sa.timers.keepalive = e.sched.AfterFunc(e.cfg.Keepalive, sa.keepalive)
		}
	}
	margin := e.rekeyMargin(e.cfg.IKELifetime)
	if !sa.initiator {
		margin /= 2 // let the initiator go first: fewer collisions
	}
	// Rekey a random while earlier (RekeyFuzz); the hard end stays.
	margin += e.rekeyFuzz(e.cfg.IKELifetime, margin)
	// One timer serves both ends of the lifetime: at the soft end it
	// starts the rekey and re-arms itself for the hard end.
	sa.timers.rekey = e.sched.AfterFunc(e.cfg.IKELifetime-margin, func() {
		// Timers must not block: start the rekey and let it run.
		sa.lock()
		defer sa.unlock()
		if sa.state == stDead {
			return
		}
		sa.timers.rekey = e.sched.AfterFunc(margin, func() {
			sa.lock()
			defer sa.unlock()
			if sa.state == stEstablished || sa.state == stRekeyed {
				sa.deleteLocked(nil)
			}
		})
		if sa.state != stEstablished || sa.rekey != nil {
			return
		}
		if err := sa.rekeyIKELocked(nil); err != nil {
			e.log.Info("ike: IKE SA rekey failed", "remote", sa.remote, "err", err)
		}
	})
}

// livenessCheck sends an empty INFORMATIONAL when the peer has been
// quiet for the liveness interval; a peer that does not answer it before
// the give-up time is dead and the SA goes.
func (sa *ikeSA) livenessCheck() {
	sa.lock()
	defer sa.unlock()
	if sa.state == stDead {
		return
	}
	e := sa.e
	idle := e.cfg.Clock.Now().Sub(e.timeOf(sa.lastRecv))
	every := sa.timers.livenessEvery
	if idle >= every && sa.pending == nil && len(sa.queue) == 0 && sa.state == stEstablished {
		sa.enqueue(&request{exch: wire.Informational, onResponse: func(*wire.Message) {}})
		idle = 0
	}
	sa.timers.liveness = e.sched.AfterFunc(max(every-idle, every/4), sa.livenessCheck)
}

// keepalive sends a NAT keepalive (RFC 3948 §2.3) and re-arms.
func (sa *ikeSA) keepalive() {
	sa.lock()
	defer sa.unlock()
	if sa.state == stDead {
		return
	}
	if ks, ok := sa.e.cfg.Sender.(KeepaliveSender); ok {
		_ = ks.SendKeepalive(sa.local, sa.remote)
	}
	sa.timers.keepalive = sa.e.sched.AfterFunc(sa.e.cfg.Keepalive, sa.keepalive)
}

// armChildTimers schedules a CHILD SA's rekey and expiry at the soft and
// hard ends of the lifetime installChild gave it, with one timer that
// re-arms itself from the soft end to the hard end.
func (sa *ikeSA) armChildTimers(c *childSA) {
	e := sa.e
	margin := c.HardLifetime - c.SoftLifetime // drawn by installChild
	spi := c.SPIIn
	c.timer = e.sched.AfterFunc(c.SoftLifetime, func() { e.childLifetime(spi, margin, false) })
}

// childLifetime handles the soft (rekey) and hard (delete) ends of a
// CHILD SA's lifetime. The CHILD SA may have moved to a new IKE SA since
// the timer was armed, so it is looked up by SPI.
func (e *Engine) childLifetime(spi uint32, margin time.Duration, hard bool) {
	sa := e.findChild(spi)
	if sa == nil {
		return
	}
	sa.lock()
	defer sa.unlock()
	c := sa.childByIn(spi)
	if c == nil || c.state == childDead {
		return
	}
	if !hard {
		c.timer = e.sched.AfterFunc(margin, func() { e.childLifetime(spi, margin, true) })
		if c.state != childInstalled || c.rekeying != nil || sa.state != stEstablished {
			return
		}
		if err := sa.rekeyChildLocked(spi, e.cfg.RekeyPFS, nil); err != nil {
			e.log.Info("ike: CHILD SA rekey failed", "spi_in", spi, "err", err)
		}
		return
	}
	if c.state == childInstalled || c.state == childRekeyed {
		if sa.state == stEstablished {
			sa.deleteChildLocked(c, nil)
		} else {
			sa.dropChild(c, errors.New("ike: CHILD SA lifetime expired"))
		}
	}
}
