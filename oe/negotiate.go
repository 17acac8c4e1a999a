package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/policygroups"
)

// negotiation is one OE attempt toward a target.
type negotiation struct {
	target netip.Addr
	src    netip.Addr
	group  policygroups.Group
	start  time.Time
	// stop ends the negotiation early with a cause (errPolicyChanged); an
	// IKE attempt under way is abandoned, telling the peer (ike).
	stop context.CancelCauseFunc
	done chan struct{}
	err  error
}

// Outcome is how a negotiation ended, for logs, metrics and `oemesh up`.
type Outcome struct {
	Target   netip.Addr    `json:"target"`
	Group    string        `json:"group"`
	Result   string        `json:"result"` // "encrypted", "clear", "drop", "hold"
	Auth     string        `json:"auth,omitempty"`
	Gateway  netip.Addr    `json:"gateway,omitzero"`
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"duration"`
}

// onAcquire starts a negotiation for the first packet of a flow.
func (o *OE) onAcquire(ctx context.Context, a kernel.Acquire) {
	o.stats.acquires.Add(1)
	dst := a.Flow.Dst
	m := o.policy.Load().Lookup(dst)
	if !m.Group.Initiates() {
		// A trap of an older policy, or a data plane race: apply this
		// policy's answer to the flow.
		o.setShunt(ctx, a.Flow, failureShunt(m.Group), m.Group, o.cfg.ShuntLifetime, "group "+m.Group.String()+" does not initiate")
		return
	}
	if o.servesClient(dst) {
		// We are this destination's IPsec gateway: the packet is one we
		// forward to a client on our inside link. Its DNS record names
		// us, so a negotiation would be with ourselves (and time out
		// holding the packets); the inside link is the clients' own
		// network, clear by design.
		o.setShunt(ctx, a.Flow, kernel.ShuntPass, m.Group, o.cfg.ShuntLifetime,
			dst.String()+" is behind us (oe.gateway_for): no OE to our own clients")
		return
	}
	o.start(ctx, a.Flow.Src, dst, m.Group)
}

// start begins a negotiation unless one toward target is running.
func (o *OE) start(ctx context.Context, src, target netip.Addr, g policygroups.Group) *negotiation {
	o.mu.Lock()
	if n, ok := o.negotiations[target]; ok {
		o.mu.Unlock()
		return n
	}
	n := &negotiation{target: target, src: src, group: g, start: o.cfg.Clock.Now(), done: make(chan struct{})}
	if len(o.negotiations) >= o.cfg.MaxNegotiations {
		o.mu.Unlock()
		o.stats.fail("too-many-negotiations")
		o.setShunt(ctx, hostFlow(src, target), failureShunt(g), g, o.cfg.ShuntLifetime, "too many negotiations at once")
		n.err = errors.New("too many negotiations at once")
		close(n.done)
		return n
	}
	sctx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	nctx, cancel := context.WithTimeout(sctx, o.cfg.NegotiationTimeout)
	n.stop = stop
	o.negotiations[target] = n
	o.mu.Unlock()

	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		defer stop(nil)
		defer cancel()
		out := o.negotiate(nctx, n)
		o.mu.Lock()
		delete(o.negotiations, target)
		o.mu.Unlock()
		n.err = errors.New(out.Reason)
		if out.Result == "encrypted" {
			n.err = nil
		}
		close(n.done)
	}()
	return n
}

// errPolicyChanged is the cause a negotiation is stopped with when a
// reloaded policy puts its target in a group that does not initiate.
var errPolicyChanged = errors.New("oe: the policy no longer initiates toward this destination")

// errStopping is the cause negotiations are stopped with by Close.
var errStopping = errors.New("oe: stopping")

// stopNegotiations ends, with cause, the negotiations whose target which
// picks: their IKE attempts are abandoned (the peer told with a Delete
// once IKE_AUTH went out, ike/abandon.go) and their DNS look-ups
// cancelled; each then leaves the shunt of the policy in force.
func (o *OE) stopNegotiations(cause error, which func(target netip.Addr) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for target, n := range o.negotiations {
		if n.stop != nil && which(target) {
			o.log.Info("stopping the negotiation", "target", target, "group", n.group, "why", cause)
			n.stop(cause)
		}
	}
}

func hostFlow(src, dst netip.Addr) kernel.Flow { return kernel.Flow{Src: src, Dst: dst} }

// negotiate runs one OE attempt: DNS and IKE_SA_INIT in parallel when the
// target is its own gateway; tunnel mode through a gateway when its record
// names one; NULL authentication when configured; a failure shunt when all
// fails.
func (o *OE) negotiate(ctx context.Context, n *negotiation) Outcome {
	out := Outcome{Target: n.target, Group: n.group.String()}
	flow := hostFlow(n.src, n.target)
	// negotiation_shunt: pass lets a flow go clear while it negotiates;
	// never one in group private, which is held whatever the setting.
	passing := o.cfg.NegotiationShunt == kernel.ShuntPass && n.group != policygroups.Private
	if passing {
		o.setShunt(ctx, flow, kernel.ShuntPass, n.group, o.cfg.NegotiationTimeout, "negotiating")
	}
	finish := func(result, reason string) Outcome {
		out.Result, out.Reason = result, reason
		out.Duration = o.cfg.Clock.Now().Sub(n.start)
		if result == "encrypted" {
			o.stats.handshakes.Add(1)
			if passing {
				o.removeShunt(ctx, flow)
			}
			o.log.Info("OE up", "target", n.target, "group", n.group, "auth", out.Auth, "gateway", out.Gateway, "took", out.Duration)
			return out
		}
		// The shunt follows the policy in force now: a reload while we
		// negotiated may have moved the target to another group.
		g := o.policy.Load().Group(n.target)
		if errors.Is(context.Cause(ctx), errPolicyChanged) {
			reason = fmt.Sprintf("policy changed while negotiating: %s is now in group %s", n.target, g)
		}
		kind := failureShunt(g)
		o.setShunt(context.WithoutCancel(ctx), flow, kind, g, o.cfg.ShuntLifetime, reason)
		out.Result = map[kernel.ShuntKind]string{kernel.ShuntPass: "clear", kernel.ShuntDrop: "drop"}[kind]
		o.log.Info("OE failed: shunt set", "target", n.target, "group", g, "shunt", kind, "reason", reason, "took", out.Duration)
		return out
	}

	if o.cfg.NullAuth == NullOnly {
		if err := o.initiate(ctx, n, n.target, n.target, ike.AuthKindNull); err != nil {
			o.stats.fail(failureClass(err))
			return finish("", "NULL OE: "+err.Error())
		}
		out.Auth = authName(ike.AuthKindNull)
		return finish("encrypted", "")
	}

	// DNS for the target, and meanwhile IKE_SA_INIT to it as its own
	// gateway (the common case): the engine asks PeerKeys for the key only
	// when it verifies IKE_AUTH, and the resolver coalesces that look-up
	// with this one. If DNS decides against this attempt, settle drops it
	// or lets it end (authgate.go): one negotiation per flow.
	type dnsAnswer struct {
		res dnskey.Result
		err error
	}
	dnsCh := make(chan dnsAnswer, 1)
	go func() {
		o.stats.dnsLookups.Add(1)
		res, err := o.keys.Lookup(ctx, dnskey.AddrID(n.target))
		dnsCh <- dnsAnswer{res, err}
	}()
	ikeCtx, ikeCancel := context.WithCancel(ctx)
	defer ikeCancel()
	gate := o.gates.open(n.target, n.src, o.cfg.Clock.Now())
	defer o.gates.close(n.target, n.src, gate)
	ikeCh := make(chan error, 1)
	go func() { ikeCh <- o.initiate(ikeCtx, n, n.target, n.target, ike.AuthKindPubkey) }()
	// settle ends the direct attempt after DNS decided against it: it is
	// cancelled if IKE_AUTH has not gone out, and waited for otherwise.
	// It reports whether the attempt brought the tunnel up after all.
	// The gate closes as soon as the attempt has ended: a withdrawn gate
	// left open would refuse the NULL attempt's SPI too.
	settle := func() bool {
		defer o.gates.close(n.target, n.src, gate)
		if o.gates.withdraw(gate) {
			ikeCancel()
			<-ikeCh
			return false
		}
		err := <-ikeCh
		if err == nil {
			return true
		}
		grace := o.gates.deleteGrace(gate)
		o.log.Debug("OE: IKE attempt that DNS decided against has ended", "target", n.target, "err", err, "delete_grace", grace)
		select {
		case <-time.After(grace):
		case <-ctx.Done():
		}
		return false
	}

	var ans dnsAnswer
	select {
	case ans = <-dnsCh:
	case err := <-ikeCh:
		// IKE ended before DNS answered: it can only have failed (it
		// needs the key to finish).
		ans = <-dnsCh
		if ans.err == nil && err != nil {
			o.stats.fail(failureClass(err))
			return finish("", "IKE: "+err.Error())
		}
		ikeCh <- err
	}
	keys := ans.res.Connectable()
	direct := ans.err == nil && len(keys) > 0 &&
		(keys[0].Gateway.Kind != dnskey.GatewayAddr || keys[0].Gateway.Addr == n.target)
	if !direct && settle() {
		// It had sent IKE_AUTH and verified the target after all, with a
		// key PeerKeys found elsewhere (a gateway key learnt from a
		// client's record): the first negotiation to finish is kept.
		out.Auth = authName(ike.AuthKindPubkey)
		return finish("encrypted", "")
	}
	switch {
	case errors.Is(ans.err, dnskey.ErrNoKey):
		if o.cfg.NullAuth == NullFallback {
			// No key, or one DNSSEC does not vouch for: anonymous
			// encryption, for private as for private-or-clear (never
			// clear text; docs/dnssec.md says why).
			if err := o.initiate(ctx, n, n.target, n.target, ike.AuthKindNull); err == nil {
				out.Auth = authName(ike.AuthKindNull)
				return finish("encrypted", "")
			} else {
				o.stats.fail("no-key")
				return finish("", "no key in DNS, and NULL OE failed: "+err.Error())
			}
		}
		o.stats.fail("no-key")
		return finish("", "no key in DNS for "+n.target.String())
	case ans.err != nil:
		o.stats.fail("dns-failure")
		return finish("", "DNS: "+ans.err.Error())
	}

	if len(keys) == 0 {
		o.stats.fail("no-usable-key")
		return finish("", fmt.Sprintf("DNS has records for %s but none an initiator can use (gateway by name only)", n.target))
	}
	gw := keys[0].Gateway
	if gw.Kind == dnskey.GatewayAddr && gw.Addr != n.target {
		// The target's record names a gateway: tunnel mode to it, with
		// the gateway's key from the record.
		var gwKeys []crypto.PublicKey
		for _, k := range keys {
			if k.Gateway == gw {
				gwKeys = append(gwKeys, k.PublicKey)
			}
		}
		o.expected.set(gw.Addr, gwKeys)
		defer o.expected.clear(gw.Addr)
		out.Gateway = gw.Addr
		if err := o.initiate(ctx, n, gw.Addr, n.target, ike.AuthKindPubkey); err != nil {
			o.stats.fail(failureClass(err))
			return finish("", fmt.Sprintf("IKE to gateway %s: %v", gw.Addr, err))
		}
		out.Auth = authName(ike.AuthKindPubkey)
		return finish("encrypted", "")
	}
	if err := <-ikeCh; err != nil {
		o.stats.fail(failureClass(err))
		return finish("", "IKE: "+err.Error())
	}
	out.Auth = authName(ike.AuthKindPubkey)
	return finish("encrypted", "")
}

// initiate runs IKE toward peer for traffic to target (transport mode when
// peer is the target, tunnel mode through a gateway).
func (o *OE) initiate(ctx context.Context, n *negotiation, peer, target netip.Addr, auth ike.AuthKind) error {
	opts := ike.InitiateOptions{
		Remote:         netip.AddrPortFrom(peer, o.cfg.IKEPort),
		Local:          n.src,
		Auth:           auth,
		TSi:            []ike.TrafficSelector{ike.HostSelector(n.src)},
		TSr:            []ike.TrafficSelector{ike.HostSelector(target)},
		Mode:           ike.ModeTransport,
		InitialContact: true,
	}
	if auth == ike.AuthKindPubkey {
		opts.PeerID = ike.AddrIdentity(peer)
		opts.PeerAuth = ike.AuthKindPubkey
	} else {
		opts.PeerAuth = ike.AuthKindNull
	}
	if peer != target {
		opts.Mode = ike.ModeTunnel
	}
	_, err := o.engine.Initiate(ctx, opts)
	return err
}

// failureClass names a failure for metrics.
func failureClass(err error) string {
	var ne *ike.NotifyError
	switch {
	case errors.As(err, &ne):
		return "peer-" + ne.Type.String()
	case errors.Is(err, ike.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ike.ErrNoKey):
		return "no-key"
	}
	return "ike-error"
}

func (o *OE) setShunt(ctx context.Context, f kernel.Flow, kind kernel.ShuntKind, g policygroups.Group, life time.Duration, reason string) {
	s := kernel.Shunt{Flow: f, Kind: kind, Lifetime: life, Reason: reason}
	if err := o.dp.SetShunt(ctx, s); err != nil {
		o.log.Error("cannot set shunt", "src", f.Src, "dst", f.Dst, "kind", kind, "err", err)
		return
	}
	s.Expires = o.cfg.Clock.Now().Add(life)
	o.stats.shunts.Add(1)
	o.mu.Lock()
	o.shunts[f] = shuntInfo{Shunt: s, group: g}
	o.mu.Unlock()
}

func (o *OE) removeShunt(ctx context.Context, f kernel.Flow) {
	o.mu.Lock()
	delete(o.shunts, f)
	o.mu.Unlock()
	if err := o.dp.RemoveShunt(ctx, f); err != nil {
		o.log.Debug("remove shunt", "src", f.Src, "dst", f.Dst, "err", err)
	}
}

// Up negotiates with target by hand (`oemesh up`), as if its first packet
// had been trapped, and waits for the outcome.
func (o *OE) Up(ctx context.Context, src, target netip.Addr) error {
	g := o.policy.Load().Group(target)
	if g == policygroups.Clear || g == policygroups.Block {
		return fmt.Errorf("oe: %s is in group %s: no OE", target, g)
	}
	o.removeShunt(ctx, hostFlow(src, target))
	n := o.start(ctx, src, target, g)
	select {
	case <-n.done:
		return n.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Down deletes every tunnel to target (`oemesh down`), telling the peer.
func (o *OE) Down(ctx context.Context, target netip.Addr) (int, error) {
	ts := o.tunnels.ToPeer(target)
	var errs []error
	seen := map[ike.SAID]bool{}
	for _, t := range ts {
		if seen[t.IKE] {
			continue
		}
		seen[t.IKE] = true
		if err := o.engine.DeleteIKE(ctx, t.IKE); err != nil {
			errs = append(errs, err)
		}
	}
	return len(seen), errors.Join(errs...)
}
