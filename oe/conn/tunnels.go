package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// Owner names the conn a new CHILD SA belongs to, or "" when it is OE's:
// a rekey belongs to the owner of the SA it replaces; a new SA to the
// conn whose remote side its peer fits and whose subnets hold its
// selectors (connOfChild).
func (c *Conns) Owner(sa ike.ChildSA) string {
	if sa.Replaces != 0 {
		if t, ok := c.tunnels.Get(sa.Replaces); ok {
			return t.Conn
		}
	}
	if cs := c.connOfChild(sa.Remote, sa.PeerID, sa.TSLocal, sa.TSRemote); cs != nil {
		return cs.Name
	}
	return ""
}

// Install puts conn's CHILD SA pair into the data plane and the shared
// tunnel table. With the conn's unique_ids, a new IKE SA the peer set up
// for the same flow replaces the conn's older one at once (replaceOlder);
// without, both stay.
func (c *Conns) Install(ctx context.Context, sa ike.ChildSA, conn string) error {
	p, err := tunnel.SAPair(sa)
	if err != nil {
		return err
	}
	if err := c.dp.InstallSA(ctx, p); err != nil {
		return fmt.Errorf("oe: conn %s: install SA %08x/%08x with %s: %w", conn, sa.SPIIn, sa.SPIOut, sa.Remote, err)
	}
	c.tunnels.Add(c.cfg.Now(), sa, p.ID(), conn)
	c.stats.tunnelsUp.Add(1)
	c.log.Info("tunnel up", "conn", conn, "peer", sa.Remote, "id", sa.PeerID.String(), "auth", tunnel.AuthName(sa.PeerAuth),
		"mode", sa.Mode, "spi_in", tunnel.HexSPI(sa.SPIIn), "spi_out", tunnel.HexSPI(sa.SPIOut),
		"rekey_of", tunnel.HexSPI(sa.Replaces))
	if cs, ok := c.get(conn); ok && cs.UniqueIDs && sa.Replaces == 0 {
		c.replaceOlder(ctx, sa, conn)
	}
	return nil
}

// Delete removes a conn's CHILD SA pair from the data plane and the table.
func (c *Conns) Delete(ctx context.Context, sa ike.ChildSA) error {
	t, ok := c.tunnels.Remove(sa.SPIIn)
	if !ok {
		return nil // never installed: the data plane's SPI reservation lapses by itself
	}
	// A rekeyed pair hands its policies to the new one.
	if err := c.dp.DeleteSA(ctx, t.ID, kernel.DeleteOptions{KeepPolicy: t.Replaced}); err != nil {
		return fmt.Errorf("oe: conn %s: delete SA %08x with %s: %w", t.Conn, sa.SPIIn, sa.Remote, err)
	}
	c.log.Info("tunnel down", "conn", t.Conn, "peer", sa.Remote, "spi_in", tunnel.HexSPI(sa.SPIIn), "replaced", t.Replaced)
	return nil
}

// replaceOlder is unique_ids for a new IKE SA the peer set up: the conn's
// older IKE SA for the same flow (both ends and the peer's identity) is
// taken out of the data plane now and deleted, as OE does for its own
// tunnels (oe/installer.go says why only a peer-initiated SA counts).
// OnChildUp covers the rest of unique_ids: the same ID from elsewhere.
func (c *Conns) replaceOlder(ctx context.Context, sa ike.ChildSA, conn string) {
	if sa.Initiator {
		return
	}
	for _, old := range c.tunnels.SameFlow(sa, conn) {
		id := old.IKE
		c.log.Info("conn: peer reconnected: deleting its older IKE SA (unique_ids)", "conn", conn, "peer", sa.Remote,
			"id", sa.PeerID.String(), "local", tunnel.Text(sa.TSLocal), "remote", tunnel.Text(sa.TSRemote),
			"old_spi_in", tunnel.HexSPI(old.InSPI()))
		// The peer has most likely lost the old SAs: take the old pair out
		// of the data plane now, keeping the policies the new pair uses.
		if t, ok := c.tunnels.Remove(old.InSPI()); ok {
			// Not cancelled with the negotiation that ctx may belong to: the
			// old pair must go whatever becomes of the new one.
			if err := c.dp.DeleteSA(context.WithoutCancel(ctx), t.ID, kernel.DeleteOptions{KeepPolicy: true}); err != nil {
				c.log.Warn("conn: removing a reconnected peer's old SA", "conn", conn, "peer", sa.Remote, "err", err)
			}
		}
		c.goDetached(func(ctx context.Context) { c.engine.DeleteIKE(ctx, id) })
	}
}

// selectorsWithin reports whether every selector lies inside one of ps.
func selectorsWithin(tss []ike.TrafficSelector, ps []netip.Prefix) bool {
	if len(tss) == 0 {
		return false
	}
	for _, ts := range tss {
		ok := false
		for _, p := range ps {
			if p.Contains(ts.Start) && p.Contains(ts.End) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// connOfChild finds the conn a CHILD SA belongs to: its peer and ID fit
// the conn's remote side, and its selectors lie inside the conn's.
func (c *Conns) connOfChild(peer netip.Addr, peerID ike.Identity, local, remote []ike.TrafficSelector) *connState {
	var best *connState
	for _, cs := range c.list() {
		if !cs.peerFits(peer, peerID) {
			continue
		}
		rn := cs.remoteNets()
		if !cs.Remote.IsValid() && len(cs.RemoteSubnets) == 0 {
			rn = []netip.Prefix{netip.PrefixFrom(peer, peer.BitLen())}
		}
		if !selectorsWithin(local, cs.localNets()) || !selectorsWithin(remote, rn) {
			continue
		}
		if best == nil || (cs.Remote.IsValid() && !best.Remote.IsValid()) {
			best = cs
		}
	}
	return best
}

// peerFits reports whether a peer at addr proving id may be this conn's
// remote side.
func (cs *connState) peerFits(addr netip.Addr, id ike.Identity) bool {
	if cs.Remote.IsValid() && cs.Remote != addr {
		return false
	}
	switch {
	case cs.Auth == ike.AuthKindNull:
		return true
	case cs.RemoteID.Type != 0:
		return ike.SameIdentity(cs.RemoteID, id)
	case cs.Remote.IsValid():
		a, ok := id.Addr()
		return ok && a == cs.Remote
	}
	return true // %any without an ID: any peer with the right credentials
}

// OnChildUp is the engine's OnChildUp hook for a conn's tunnel (one the
// table says a conn installed); others it leaves alone.
func (c *Conns) OnChildUp(info ike.ChildSAInfo) {
	t, ok := c.tunnels.Get(info.SPIIn)
	if !ok || t.Conn == "" {
		return
	}
	cs := c.connOfChild(t.Peer(), info.PeerID, info.TSLocal, info.TSRemote)
	if cs == nil {
		return
	}
	ct := connTunnel{ike: info.IKE, peer: t.Peer(), peerID: info.PeerID, idKey: ike.IdentityKey(info.PeerID), local: info.TSLocal, remote: info.TSRemote,
		mode: info.Mode, upSince: c.cfg.Now(), verbHost: cs.hostToHost()}
	// The conn's other tunnels that ct may rekey (same peer and
	// selectors) or, under unique_ids, replace (same identity), taken as
	// ct joins them: of two hooks running at once, the second sees the
	// first's tunnel. The index keeps this to those few tunnels, however
	// many peers the conn serves.
	uniqueIDs := cs.UniqueIDs && info.PeerID.Type != ike.IDNull
	rekey := false
	var sameID map[uint32]connTunnel
	c.mu.Lock()
	for _, spi := range cs.index.withPeer(ct.peer) {
		if x := cs.tunnels[spi]; sameSelectors(x, ct) {
			// A rekey (possibly under an IKE SA rekeyed meanwhile, and
			// its predecessor may be gone from the engine already) or a
			// duplicate: the flow was up before, updown ran for it.
			rekey = true
		}
	}
	if uniqueIDs {
		for _, spi := range cs.index.withID(ct.peerID) {
			if x := cs.tunnels[spi]; ike.SameIdentity(x.peerID, ct.peerID) {
				if sameID == nil {
					sameID = map[uint32]connTunnel{}
				}
				sameID[spi] = x
			}
		}
	}
	if old, dup := cs.tunnels[info.SPIIn]; dup {
		cs.index.remove(info.SPIIn, old)
		cs.unrefIKE(old.ike)
	}
	cs.tunnels[info.SPIIn] = ct
	cs.index.add(info.SPIIn, ct)
	cs.refIKE(ct.ike)
	cs.lastErr = ""
	c.setState(cs, StateUp, "child up")
	c.mu.Unlock()
	var older []ike.SAID
	if len(sameID) > 0 {
		// The IKE SAs the tunnels belong to now (an IKE rekey moves
		// children without telling the hooks).
		owners := c.childOwners()
		for spi := range sameID {
			cur := owners.ikeOf(c, spi)
			if cur == ct.ike || cur == (ike.SAID{}) {
				continue
			}
			// unique_ids keeps the IKE SA that came up last. The hooks come
			// in no particular order between IKE SAs: this one may run after
			// the hook of a tunnel that came up after ct. The table's Seq
			// says which came first.
			old := cur
			if c.cameUpAfter(spi, t) {
				old = ct.ike
			}
			if !slices.Contains(older, old) {
				older = append(older, old)
			}
		}
	}
	for _, id := range older {
		c.log.Info("conn: a new SA for the same ID replaces the older one (unique_ids)", "conn", cs.Name, "peer_id", info.PeerID.String(), "old", id.String())
		c.goDetached(func(ctx context.Context) { c.engine.DeleteIKE(ctx, id) })
	}
	c.armLifetime(cs, info.SPIIn)
	c.armIKELifetime(cs, info.IKE)
	if !rekey {
		// Debug only: Install's "tunnel up" line said it all at info
		// (conn, peer, ID, SPIs; rekey_of 0 for a new flow).
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("conn up", "conn", cs.Name, "peer", ct.peer, "peer_id", info.PeerID.String(), "spi_in", tunnel.HexSPI(info.SPIIn))
		}
		c.runUpdown(cs, "up", ct)
	}
}

// cameUpAfter reports whether the tunnel with inbound SPI spiIn came up
// after t, by the order the tunnel table recorded them in. A tunnel
// gone from the table counts as older.
func (c *Conns) cameUpAfter(spiIn uint32, t tunnel.Tunnel) bool {
	x, ok := c.tunnels.Get(spiIn)
	return ok && t.Before(x)
}

func sameSelectors(a, b connTunnel) bool {
	return len(a.local) == len(b.local) && len(a.remote) == len(b.remote) &&
		(len(a.local) == 0 || tunnel.SameSelector(a.local[0], b.local[0])) && (len(a.remote) == 0 || tunnel.SameSelector(a.remote[0], b.remote[0]))
}

// OnChildDown is the engine's OnChildDown hook: when a conn's tunnel went
// and no rekey took its place, updown runs and, as the conn says, it is
// brought back (DPD restart, auto=start) or left to its trap. Others'
// tunnels it leaves alone.
func (c *Conns) OnChildDown(info ike.ChildSAInfo, cause error) {
	var cs *connState
	var ct connTunnel
	for _, x := range c.list() {
		c.mu.Lock()
		t, ok := x.tunnels[info.SPIIn]
		if ok {
			delete(x.tunnels, info.SPIIn)
			x.index.remove(info.SPIIn, t)
			x.unrefIKE(t.ike)
			if tm := x.timers[info.SPIIn]; tm != nil {
				tm.Stop()
				delete(x.timers, info.SPIIn)
			}
			if len(x.tunnels) == 0 {
				for id, tm := range x.ikeTimers {
					tm.Stop()
					delete(x.ikeTimers, id)
				}
			}
			cs, ct = x, t
		}
		c.mu.Unlock()
		if ok {
			break
		}
	}
	if cs == nil {
		return
	}
	c.mu.Lock()
	successor := false
	for _, spi := range cs.index.withPeer(ct.peer) {
		if sameSelectors(cs.tunnels[spi], ct) {
			successor = true
		}
	}
	remaining := len(cs.tunnels)
	restart := false
	dead := errors.Is(cause, ike.ErrTimeout)
	if remaining == 0 && !cs.stopped {
		switch {
		case dead && cs.DPDAction == "restart":
			restart = true
		case dead && cs.DPDAction == "clear":
			cs.keepUp = false
		case cs.keepUp && !dead:
			restart = true
		case cs.keepUp && dead && cs.DPDAction == "hold":
			// hold: the trap takes the next packet
		}
		if cs.routed {
			c.setState(cs, StateRouted, "child down")
		} else {
			c.setState(cs, StateDown, "child down")
		}
		if cause != nil {
			cs.lastErr = "tunnel down: " + cause.Error()
		}
	}
	routed, clear := cs.routed, dead && cs.DPDAction == "clear"
	c.mu.Unlock()
	if successor {
		return
	}
	// At info when the line says more than Delete's "tunnel down" and,
	// for the peer's Delete, ike's "peer deleted the IKE SA": the conn is
	// restarted, or the tunnel went for another reason (DPD, a failed
	// rekey). An orderly delete is a debug line.
	if lvl := connDownLevel(cause, restart); c.log.Enabled(context.Background(), lvl) {
		c.log.Log(context.Background(), lvl, "conn down", "conn", cs.Name, "peer", ct.peer,
			"spi_in", tunnel.HexSPI(info.SPIIn), "cause", cause, "restart", restart)
	}
	c.runUpdown(cs, "down", ct)
	if clear && routed {
		c.goDetached(func(ctx context.Context) { c.Unroute(ctx, cs.Name) })
	}
	if restart {
		c.try(cs, false)
	}
}

// childOwners is, at one moment, which IKE SA holds each CHILD SA, by
// the CHILD SA's inbound SPI: an IKE rekey moves children to a new IKE SA
// without telling the hooks, so the SPIs recorded at child up may be
// stale. It walks every SA the engine holds: take it once per hook, and
// only when a tunnel needs its IKE SA.
type childOwners map[uint32]ike.SAID

// childOwners reads the engine's SAs once, for the look-ups of several
// SPIs (ikeOf).
func (c *Conns) childOwners() childOwners {
	m := childOwners{}
	for _, sa := range c.engine.SAs() {
		for _, ch := range sa.Children {
			if _, ok := m[ch.SPIIn]; !ok {
				m[ch.SPIIn] = sa.ID
			}
		}
	}
	return m
}

// ikeOf is the IKE SA that holds spiIn, or, when the engine no longer
// holds it, the one the tunnel table recorded; the zero SAID when
// neither knows it.
func (m childOwners) ikeOf(c *Conns, spiIn uint32) ike.SAID {
	if id, ok := m[spiIn]; ok {
		return id
	}
	if t, ok := c.tunnels.Get(spiIn); ok {
		return t.IKE
	}
	return ike.SAID{}
}

// connDownLevel is the level of a "conn down" line (see OnChildDown).
func connDownLevel(cause error, restart bool) slog.Level {
	if restart || (cause != nil && !errors.Is(cause, ike.ErrPeerDeleted)) {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
