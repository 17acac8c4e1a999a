package oe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// connKeepUp starts (or joins) the loop that brings the conn up and keeps
// it up; the channel gets the outcome of the first round of attempts.
func (o *OE) connKeepUp(cs *connState) <-chan error {
	o.conns.mu.Lock()
	cs.keepUp = true
	o.conns.mu.Unlock()
	return o.connTry(cs, true)
}

// connTry runs up to KeyingTries attempts (0: until it works or the conn is
// taken down) in the background, unless a round is already running.
func (o *OE) connTry(cs *connState, wait bool) <-chan error {
	done := make(chan error, 1)
	o.conns.mu.Lock()
	if cs.negotiating || cs.stopped {
		o.conns.mu.Unlock()
		done <- fmt.Errorf("oe: conn %s is already negotiating", cs.Name)
		return done
	}
	if len(cs.tunnels) > 0 {
		o.conns.mu.Unlock()
		done <- nil
		return done
	}
	base := context.Background()
	if p := o.runCtx.Load(); p != nil {
		base = *p
	}
	ctx, cancel := context.WithCancel(base)
	cs.negotiating, cs.stop, cs.tries = true, cancel, 0
	o.setConnState(cs, connNegotiating, "initiate")
	o.conns.mu.Unlock()
	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		defer cancel()
		err := o.connAttempts(ctx, cs)
		o.conns.mu.Lock()
		cs.negotiating = false
		if err != nil {
			cs.lastErr = err.Error()
			if ctx.Err() == nil {
				o.setConnState(cs, connGaveUp, err.Error())
			}
		} else {
			cs.lastErr = ""
		}
		o.conns.mu.Unlock()
		done <- err
	}()
	return done
}

// connAttempts initiates until one attempt works, KeyingTries run out, or
// ctx ends; the pause between attempts doubles up to a minute.
func (o *OE) connAttempts(ctx context.Context, cs *connState) error {
	pause := cs.RetryBase
	var last error
	for try := 1; cs.KeyingTries == 0 || try <= cs.KeyingTries; try++ {
		o.conns.mu.Lock()
		cs.tries = try
		o.conns.mu.Unlock()
		actx, cancel := context.WithTimeout(ctx, o.cfg.NegotiationTimeout)
		err := o.connInitiate(actx, cs)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		o.stats.fail(failureClass(err))
		o.log.Info("conn negotiation failed", "conn", cs.Name, "try", try, "keying_tries", cs.KeyingTries, "err", err)
		o.conns.mu.Lock()
		cs.lastErr = err.Error()
		o.conns.mu.Unlock()
		if ctx.Err() != nil {
			return fmt.Errorf("conn %s: stopped after %d tries: %w", cs.Name, try, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("conn %s: stopped after %d tries: %w", cs.Name, try, last)
		case <-o.closed:
			return fmt.Errorf("conn %s: daemon stopping: %w", cs.Name, last)
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Minute)
	}
	o.log.Warn("conn: gave up", "conn", cs.Name, "keying_tries", cs.KeyingTries, "err", last)
	return fmt.Errorf("gave up after %d tries (keying_tries): %w", cs.KeyingTries, last)
}

// connInitiate runs one IKE negotiation with the conn's parameters.
func (o *OE) connInitiate(ctx context.Context, cs *connState) error {
	c := cs.Conn
	opts := ike.InitiateOptions{
		Remote:         netip.AddrPortFrom(c.Remote, o.cfg.IKEPort),
		Local:          c.Local,
		Auth:           c.Auth,
		PeerAuth:       c.Auth,
		TSi:            prefixSelectors(c.localNets()),
		TSr:            prefixSelectors(c.remoteNets()),
		Mode:           c.Mode,
		IKE:            c.IKE,
		ESP:            c.ESP,
		InitialContact: true,
	}
	if c.Auth != ike.AuthKindNull {
		opts.PeerID = c.RemoteID
		if opts.PeerID.Type == 0 {
			opts.PeerID = ike.AddrIdentity(c.Remote)
		}
	}
	_, err := o.engine.Initiate(ctx, opts)
	return err
}

func prefixSelectors(ps []netip.Prefix) []ike.TrafficSelector {
	out := make([]ike.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		out = append(out, prefixSelector(p))
	}
	return out
}

func prefixSelector(p netip.Prefix) ike.TrafficSelector {
	p = p.Masked()
	start := p.Addr()
	b := start.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	end, _ := netip.AddrFromSlice(b)
	ts := ike.HostSelector(start)
	ts.End = end
	return ts
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

func idEqual(a, b ike.Identity) bool {
	if a.Type != b.Type {
		return false
	}
	if a.Type == ike.IDFQDN {
		return strings.EqualFold(strings.TrimSuffix(string(a.Data), "."), strings.TrimSuffix(string(b.Data), "."))
	}
	return bytes.Equal(a.Data, b.Data)
}

// connOfChild finds the conn a CHILD SA belongs to: its peer and ID fit
// the conn's remote side, and its selectors lie inside the conn's.
func (o *OE) connOfChild(peer netip.Addr, peerID ike.Identity, local, remote []ike.TrafficSelector) *connState {
	var best *connState
	for _, cs := range o.conns.list() {
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
		return idEqual(cs.RemoteID, id)
	case cs.Remote.IsValid():
		a, ok := id.Addr()
		return ok && a == cs.Remote
	}
	return true // %any without an ID: any peer with the right credentials
}

// onChildUp is the engine's OnChildUp hook: a conn's tunnel is up.
func (o *OE) onConnChildUp(info ike.ChildSAInfo) {
	t, ok := o.tunnelBySPI(info.SPIIn)
	if !ok {
		return
	}
	cs := o.connOfChild(t.peerAddr(), info.PeerID, info.TSLocal, info.TSRemote)
	if cs == nil {
		return
	}
	ct := connTunnel{ike: info.IKE, peer: t.peerAddr(), peerID: info.PeerID, local: info.TSLocal, remote: info.TSRemote,
		mode: info.Mode, upSince: o.cfg.Clock.Now(), verbHost: cs.hostToHost()}
	// The IKE SA each existing tunnel belongs to now (an IKE rekey moves
	// children without telling the hooks).
	o.conns.mu.Lock()
	existing := make(map[uint32]connTunnel, len(cs.tunnels))
	for spi, x := range cs.tunnels {
		existing[spi] = x
	}
	o.conns.mu.Unlock()
	rekey := false
	var older []ike.SAID
	for spi, x := range existing {
		cur := o.ikeOfChild(spi)
		if sameSelectors(x, ct) && x.peer == ct.peer {
			// A rekey (possibly under an IKE SA rekeyed meanwhile, and
			// its predecessor may be gone from the engine already) or a
			// duplicate: the flow was up before, updown ran for it.
			rekey = true
		}
		if cs.UniqueIDs && cur != ct.ike && cur != (ike.SAID{}) && idEqual(x.peerID, ct.peerID) && info.PeerID.Type != ike.IDNull &&
			!slices.Contains(older, cur) {
			older = append(older, cur)
		}
	}
	o.conns.mu.Lock()
	cs.tunnels[info.SPIIn] = ct
	cs.lastErr = ""
	o.setConnState(cs, connUp, "child up")
	o.conns.mu.Unlock()
	for _, id := range older {
		o.log.Info("conn: a new SA for the same ID replaces the older one (unique_ids)", "conn", cs.Name, "peer_id", info.PeerID.String(), "old", id.String())
		o.goDetached(func(ctx context.Context) { o.engine.DeleteIKE(ctx, id) })
	}
	o.armLifetime(cs, info.SPIIn)
	o.armIKELifetime(cs, info.IKE)
	if !rekey {
		o.log.Info("conn up", "conn", cs.Name, "peer", ct.peer, "peer_id", info.PeerID.String(), "spi_in", fmt.Sprintf("%08x", info.SPIIn))
		o.runUpdown(cs, "up", ct)
	}
}

func sameSelectors(a, b connTunnel) bool {
	return len(a.local) == len(b.local) && len(a.remote) == len(b.remote) &&
		(len(a.local) == 0 || sameSelector(a.local[0], b.local[0])) && (len(a.remote) == 0 || sameSelector(a.remote[0], b.remote[0]))
}

// onConnChildDown is the engine's OnChildDown hook: a conn's tunnel went.
// Unless a rekey took its place, updown runs and, as the conn says, it is
// brought back (DPD restart, auto=start) or left to its trap.
func (o *OE) onConnChildDown(info ike.ChildSAInfo, cause error) {
	var cs *connState
	var ct connTunnel
	for _, c := range o.conns.list() {
		o.conns.mu.Lock()
		t, ok := c.tunnels[info.SPIIn]
		if ok {
			delete(c.tunnels, info.SPIIn)
			if tm := c.timers[info.SPIIn]; tm != nil {
				tm.Stop()
				delete(c.timers, info.SPIIn)
			}
			if len(c.tunnels) == 0 {
				for id, tm := range c.ikeTimers {
					tm.Stop()
					delete(c.ikeTimers, id)
				}
			}
			cs, ct = c, t
		}
		o.conns.mu.Unlock()
		if ok {
			break
		}
	}
	if cs == nil {
		return
	}
	o.conns.mu.Lock()
	successor := false
	for _, x := range cs.tunnels {
		if sameSelectors(x, ct) && x.peer == ct.peer {
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
			o.setConnState(cs, connRouted, "child down")
		} else {
			o.setConnState(cs, connDown, "child down")
		}
		if cause != nil {
			cs.lastErr = "tunnel down: " + cause.Error()
		}
	}
	routed, clear := cs.routed, dead && cs.DPDAction == "clear"
	o.conns.mu.Unlock()
	if successor {
		return
	}
	o.log.Info("conn down", "conn", cs.Name, "peer", ct.peer, "spi_in", fmt.Sprintf("%08x", info.SPIIn), "cause", cause, "restart", restart)
	o.runUpdown(cs, "down", ct)
	if clear && routed {
		o.goDetached(func(ctx context.Context) { o.ConnUnroute(ctx, cs.Name) })
	}
	if restart {
		o.connTry(cs, false)
	}
}

// isConnTunnel reports whether the CHILD SA with this inbound SPI belongs
// to a conn (OE's idle timer and policy changes leave those alone).
func (o *OE) isConnTunnel(spiIn uint32) bool {
	for _, c := range o.conns.list() {
		o.conns.mu.Lock()
		_, ok := c.tunnels[spiIn]
		o.conns.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// tunnelBySPI returns the installed tunnel with this inbound SPI.
func (o *OE) tunnelBySPI(spiIn uint32) (tunnel, bool) {
	o.tunnels.mu.Lock()
	defer o.tunnels.mu.Unlock()
	t, ok := o.tunnels.byIn[spiIn]
	if !ok {
		return tunnel{}, false
	}
	return *t, true
}

// hookConns chains the conn layer into the engine's event hooks, keeping
// any hooks the caller set.
func (o *OE) hookConns(cfg *ike.EngineConfig) {
	up, down := cfg.OnChildUp, cfg.OnChildDown
	cfg.OnChildUp = func(info ike.ChildSAInfo) {
		o.onConnChildUp(info)
		if up != nil {
			up(info)
		}
	}
	cfg.OnChildDown = func(info ike.ChildSAInfo, err error) {
		o.onConnChildDown(info, err)
		if down != nil {
			down(info, err)
		}
	}
}

// ikeOfChild is the IKE SA that holds the CHILD SA with this inbound SPI
// now: an IKE rekey moves children to a new IKE SA without telling the
// hooks, so the SPIs recorded at child up may be stale.
func (o *OE) ikeOfChild(spiIn uint32) ike.SAID {
	for _, sa := range o.engine.SAs() {
		for _, c := range sa.Children {
			if c.SPIIn == spiIn {
				return sa.ID
			}
		}
	}
	if t, ok := o.tunnelBySPI(spiIn); ok {
		return t.ike
	}
	return ike.SAID{}
}
