package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
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
	// ikeTime sums the time its IKE initiations took, in nanoseconds
	// (Outcome.IKE); they may run beside the DNS look-up.
	ikeTime atomic.Int64
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
		kind := failureShunt(g)
		o.setShunt(ctx, hostFlow(src, target), kind, g, o.cfg.ShuntLifetime, "too many negotiations at once")
		n.err = &NegotiationError{Outcome{Target: target, Group: g, Result: shuntResult(kind),
			Reason: "too many negotiations at once", Err: ErrTooManyNegotiations}}
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
		out.IKE = time.Duration(n.ikeTime.Load())
		o.mu.Lock()
		delete(o.negotiations, target)
		o.mu.Unlock()
		if out.Result != ResultEncrypted {
			n.err = &NegotiationError{out}
		}
		close(n.done)
		if o.cfg.OnOutcome != nil {
			o.cfg.OnOutcome(out)
		}
	}()
	return n
}

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
// fails. The target's key is looked up once: each IKE attempt gets the
// keys it must verify its peer with (ike.InitiateOptions.PeerKeys).
func (o *OE) negotiate(ctx context.Context, n *negotiation) Outcome {
	out := Outcome{Target: n.target, Group: n.group}
	flow := hostFlow(n.src, n.target)
	// negotiation_shunt: pass lets a flow go clear while it negotiates;
	// never one in group private, which is held whatever the setting.
	passing := o.cfg.NegotiationShunt == kernel.ShuntPass && n.group != policygroups.Private
	if passing {
		o.setShunt(ctx, flow, kernel.ShuntPass, n.group, o.cfg.NegotiationTimeout, "negotiating")
	}
	succeed := func(auth ike.AuthKind) Outcome {
		out.Result, out.Auth = ResultEncrypted, auth
		out.Duration = o.cfg.Clock.Now().Sub(n.start)
		o.stats.handshakes.Add(1)
		if passing {
			o.removeShunt(ctx, flow)
		}
		o.log.Info("OE up", "target", n.target, "group", n.group, "auth", authName(out.Auth), "gateway", out.Gateway, "took", out.Duration)
		return out
	}
	fail := func(reason string, err error) Outcome {
		out.Duration = o.cfg.Clock.Now().Sub(n.start)
		// The shunt follows the policy in force now: a reload while we
		// negotiated may have moved the target to another group.
		g := o.policy.Load().Group(n.target)
		cause := context.Cause(ctx)
		if errors.Is(cause, errPolicyChanged) {
			reason = fmt.Sprintf("policy changed while negotiating: %s is now in group %s", n.target, g)
		}
		if cause != nil && !errors.Is(err, cause) {
			// Why the negotiation's context ended (a policy change, Close,
			// its deadline), when the failure does not say it already.
			err = errors.Join(err, cause)
		}
		kind := failureShunt(g)
		o.setShunt(context.WithoutCancel(ctx), flow, kind, g, o.cfg.ShuntLifetime, reason)
		out.Group, out.Result, out.Reason, out.Err = g, shuntResult(kind), reason, err
		o.log.Info("OE failed: shunt set", "target", n.target, "group", g, "shunt", kind, "reason", reason, "took", out.Duration)
		return out
	}

	if o.cfg.NullAuth == NullOnly {
		if err := o.initiate(ctx, n, n.target, n.target, ike.Identity{}, ike.AuthKindNull, nil); err != nil {
			o.stats.fail(failureClass(err))
			return fail("NULL OE: "+err.Error(), err)
		}
		return succeed(ike.AuthKindNull)
	}

	b, bound := o.bound(ctx, n.target)
	if bound && len(b.Keys) == 0 {
		// A name look-up bound the target to a name without a key
		// (dnskey.BindingsConfig.NameOnly, kept for certificate OE): the
		// name has no key, and as for a name with keys no reverse
		// look-up is made; the certificate must name it.
		if o.cfg.CertTrust != nil {
			return o.certOE(ctx, n, b.Name, succeed, fail)
		}
		bound = false
	}
	if bound {
		// A name look-up bound the target to a forward name (or was
		// about to, and bound waited for it): its key, not the reverse
		// zone's, and its identity @name.
		gw, err := o.initiateBound(ctx, n, b)
		out.Gateway = gw
		if err != nil {
			class := failureClass(err)
			if errors.Is(err, ErrNoUsableKey) {
				class = "no-usable-key"
			}
			o.stats.fail(class)
			return fail(fmt.Sprintf("OE to %s, bound to @%s by a name look-up: %v", n.target, b.Name, err), err)
		}
		return succeed(ike.AuthKindPubkey)
	}

	// DNS for the target, and meanwhile IKE_SA_INIT to it as its own
	// gateway (the common case). The engine asks for the key only when
	// it verifies IKE_AUTH: the attempt's PeerKeys waits for this one
	// look-up (dns.ownKeys). If DNS decides against this attempt, settle
	// drops it or lets it end (authgate.go): one negotiation per flow.
	dns := o.lookup(ctx, n.target)
	ikeCtx, ikeCancel := context.WithCancel(ctx)
	defer ikeCancel()
	gate := o.gates.open(n.target, n.src, o.cfg.Clock.Now())
	defer o.gates.close(n.target, n.src, gate)
	ikeCh := make(chan error, 1)
	go func() {
		ikeCh <- o.initiate(ikeCtx, n, n.target, n.target, ike.Identity{}, ike.AuthKindPubkey, dns.ownKeys(n.target))
	}()
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

	// isDirect reports whether DNS, once answered, says the target is its
	// own gateway, so that the attempt to it is the negotiation.
	isDirect := func() bool {
		keys := dns.res.Connectable()
		return dns.err == nil && len(keys) > 0 &&
			(keys[0].Gateway.Kind != dnskey.GatewayAddr || keys[0].Gateway.Addr == n.target)
	}
	select {
	case <-dns.done:
	case err := <-ikeCh:
		// IKE ended before DNS answered: it can only have failed (it
		// needs the key to finish), e.g. on the identity the target
		// proved, which the engine checks before it asks for the key.
		// That failure is the negotiation's only when DNS then says the
		// target is its own gateway; a record naming another gateway
		// (a host whose address is behind it, as RFC 4322 delegates)
		// sends the negotiation there instead.
		<-dns.done
		if isDirect() && err != nil {
			o.stats.fail(failureClass(err))
			return fail("IKE: "+err.Error(), err)
		}
		ikeCh <- err
	}
	keys := dns.res.Connectable()
	direct := isDirect()
	if !direct && settle() {
		// It had sent IKE_AUTH and verified the target after all, with a
		// key the target publishes at its own name beside the record
		// naming another gateway: the first negotiation to finish is kept.
		return succeed(ike.AuthKindPubkey)
	}
	switch {
	case errors.Is(dns.err, dnskey.ErrNoKey):
		if o.cfg.CertTrust != nil {
			return o.certOE(ctx, n, "", succeed, fail)
		}
		if o.cfg.NullAuth == NullFallback {
			// No key, or one DNSSEC does not vouch for: anonymous
			// encryption, for private as for private-or-clear (never
			// clear text; docs/dnssec.md says why).
			err := o.initiate(ctx, n, n.target, n.target, ike.Identity{}, ike.AuthKindNull, nil)
			if err == nil {
				return succeed(ike.AuthKindNull)
			}
			o.stats.fail("no-key")
			return fail("no key in DNS, and NULL OE failed: "+err.Error(), errors.Join(dns.err, err))
		}
		o.stats.fail("no-key")
		return fail("no key in DNS for "+n.target.String(), dns.err)
	case dns.err != nil:
		o.stats.fail("dns-failure")
		return fail("DNS: "+dns.err.Error(), dns.err)
	}

	if len(keys) == 0 {
		o.stats.fail("no-usable-key")
		return fail(fmt.Sprintf("DNS has records for %s but none an initiator can use (gateway by name only)", n.target), ErrNoUsableKey)
	}
	gw := keys[0].Gateway
	if gw.Kind == dnskey.GatewayAddr && gw.Addr != n.target {
		out.Gateway = gw.Addr
		if err := o.initiateViaGateway(ctx, n, keys, gw); err != nil {
			o.stats.fail(failureClass(err))
			return fail(fmt.Sprintf("IKE to gateway %s: %v", gw.Addr, err), err)
		}
		return succeed(ike.AuthKindPubkey)
	}
	if err := <-ikeCh; err != nil {
		o.stats.fail(failureClass(err))
		return fail("IKE: "+err.Error(), err)
	}
	return succeed(ike.AuthKindPubkey)
}

// initiateViaGateway runs IKE in tunnel mode to gw, the gateway that the
// target's records name, verified with the keys those records carry for
// it (RFC 4322: the gateway need publish nothing at its own name).
func (o *OE) initiateViaGateway(ctx context.Context, n *negotiation, keys []dnskey.PeerKey, gw dnskey.Gateway) error {
	var gwKeys []crypto.PublicKey
	for _, k := range keys {
		if k.Gateway == gw {
			gwKeys = append(gwKeys, k.PublicKey)
		}
	}
	return o.initiate(ctx, n, gw.Addr, n.target, ike.Identity{}, ike.AuthKindPubkey, ike.StaticKeys(gwKeys...))
}

// shuntResult is the Result of a failure that left a shunt of kind.
func shuntResult(kind kernel.ShuntKind) Result {
	if kind == kernel.ShuntPass {
		return ResultClear
	}
	return ResultDrop
}

// initiate runs IKE toward peer for traffic to target (transport mode when
// peer is the target, tunnel mode through a gateway). A pubkey attempt
// verifies peer with keys alone: oe has them from the target's DNS record
// (or is looking them up), and the engine asks no one else. The peer must
// prove peerID, or its address when peerID is zero.
func (o *OE) initiate(ctx context.Context, n *negotiation, peer, target netip.Addr, peerID ike.Identity, auth ike.AuthKind, keys ike.PeerKeysFunc) error {
	opts := o.initiateOptions(n, peer, target)
	opts.Auth = auth
	if auth == ike.AuthKindPubkey {
		opts.PeerID = peerID
		if peerID.Type == 0 {
			opts.PeerID = ike.AddrIdentity(peer)
		}
		opts.PeerAuth = ike.AuthKindPubkey
		opts.PeerKeys = keys
	} else {
		opts.PeerAuth = ike.AuthKindNull
	}
	start := o.cfg.Clock.Now()
	_, err := o.engine.Initiate(ctx, opts)
	n.ikeTime.Add(int64(o.cfg.Clock.Now().Sub(start)))
	return err
}

// initiateOptions are what every OE initiation toward peer for traffic
// to target starts from: host selectors, transport mode when peer is the
// target and tunnel mode through a gateway.
func (o *OE) initiateOptions(n *negotiation, peer, target netip.Addr) ike.InitiateOptions {
	opts := ike.InitiateOptions{
		Remote:         netip.AddrPortFrom(peer, o.cfg.IKEPort),
		Local:          n.src,
		TSi:            []ike.TrafficSelector{ike.HostSelector(n.src)},
		TSr:            []ike.TrafficSelector{ike.HostSelector(target)},
		Mode:           ike.ModeTransport,
		InitialContact: true,
	}
	if peer != target {
		opts.Mode = ike.ModeTunnel
	}
	return opts
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
// had been trapped, and waits for the outcome. A negotiation that does not
// encrypt returns a *NegotiationError, whose chain holds the cause.
func (o *OE) Up(ctx context.Context, src, target netip.Addr) error {
	g := o.policy.Load().Group(target)
	if g == policygroups.Clear || g == policygroups.Block {
		return fmt.Errorf("%w: %s is in group %s", ErrNoOE, target, g)
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
