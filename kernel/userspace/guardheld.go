package userspace

import "net/netip"

// The negotiation guard (Config.GuardNegotiating): while the data plane
// holds a flow for a negotiation, the guard blackholes its destination, so
// that if the process dies before the negotiation ends the flow's packets
// fall through to that blackhole, not to a private-or-clear prefix's
// throw and out in clear. When the hold ends (an SA or a shunt released
// it, it timed out, its trap went, Close dropped it) the host route goes
// and the trap's own guard route decides again.
//
// The hold table notes which destinations started or stopped being held
// (hold.go) under the lock it takes anyway, once per flow; guardHeldLoop,
// off the packet path, turns those notes into netlink calls. So a packet
// never waits for a route, and the blackhole is in place within a
// scheduling delay of the first held packet: far sooner than any
// negotiation can end, which needs at least a round trip to the peer.

// guardHeldLoop applies the hold table's changes to the guard until Close.
func (d *Device) guardHeldLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.done:
			return
		case <-d.hold.notify:
		}
		d.syncHeldGuard()
	}
}

// syncHeldGuard adds the blackholes of destinations now held and removes
// those of destinations no longer held.
func (d *Device) syncHeldGuard() {
	changes := d.hold.heldChanges()
	if len(changes) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for a, held := range changes {
		p := netip.PrefixFrom(a, a.BitLen())
		if held {
			if err := d.guard.hold(p); err != nil {
				d.log.Warn("guard_negotiating: cannot blackhole a destination held for a negotiation; a crash now would let it out as its group says",
					"dst", a, "err", err)
				continue
			}
			d.log.Debug("guard_negotiating: destination blackholed in the guard while held", "dst", a)
			continue
		}
		if err := d.guard.unhold(p); err != nil {
			d.log.Warn("guard_negotiating: cannot remove the guard's blackhole of a destination no longer held; it stays blocked while no data plane runs, until the next start removes it",
				"dst", a, "err", err)
			continue
		}
		d.log.Debug("guard_negotiating: hold ended, guard blackhole removed", "dst", a)
	}
}
