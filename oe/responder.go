package oe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/tunnel"
	"github.com/oemesh/oemesh/policygroups"
)

// errRefused marks responder refusals, for counting.
var errRefused = errors.New("refused")

// AcceptAuth implements ike.PeerPolicy: whether a peer may authenticate
// with this class at all. Its key is checked later by the engine through
// PeerKeys; here only the local policy group and the NULL setting count.
func (o *OE) AcceptAuth(_ context.Context, req ike.AuthRequest) error {
	g := o.groupOf(req.Remote)
	if !g.Responds() {
		o.stats.refused.Add(1)
		return fmt.Errorf("oe: peer %s is in our %s group: OE %w", req.Remote, g, errRefused)
	}
	switch req.Kind {
	case ike.AuthKindNull:
		if o.cfg.NullAuth == NullOff {
			o.stats.refused.Add(1)
			return fmt.Errorf("oe: peer %s offers NULL authentication, which oe.null_auth=off %w", req.Remote, errRefused)
		}
	case ike.AuthKindPubkey:
		// Its key is checked by the engine through PeerKeys.
	default:
		o.stats.refused.Add(1)
		return fmt.Errorf("oe: peer %s authenticates with %s, which OE does not use: %w", req.Remote, req.Kind, errRefused)
	}
	return nil
}

// SignForNull implements ike.NullSignPolicy: an opportunistic NULL
// initiator that names no responder gets our signature (Libreswan's DNSSEC
// OE client verifies it with our key from DNS). A configured conn with
// NULL authentication keeps its NULL answer: the dispatcher in front of
// the engine (oe/dispatch) asks the conns first.
func (o *OE) SignForNull(ike.AuthRequest) bool { return true }

// Child implements ike.PeerPolicy: which CHILD SA an authenticated peer may
// have. A peer speaks for itself; it speaks for another client C only if it
// proved a key and C's DNS record names it as C's gateway (RFC 4322
// delegation). Our side is this host, or a client we are the gateway for.
func (o *OE) Child(ctx context.Context, req ike.ChildRequest) (ike.ChildDecision, error) {
	var dec ike.ChildDecision
	// The peer's side (TSi): itself, or clients that delegate to it.
	for _, ts := range req.TSi {
		host, isHost := hostOf([]ike.TrafficSelector{ts})
		switch {
		case isHost && host == req.Remote:
		case isHost && slices.Contains(req.Leased, host):
			// An address we leased to the peer (oe.address_pool): the
			// engine has narrowed TSi to it, and it is the peer's own.
			// Its group is the peer's, checked in AcceptAuth.
			if !containsHost(dec.TSi, host) {
				dec.TSi = append(dec.TSi, ike.HostSelector(host))
			}
			continue
		case isHost:
			if err := o.checkDelegation(ctx, req, host); err != nil {
				return dec, err
			}
		case tunnel.InRange(ts, req.Remote):
			host = req.Remote // a wide proposal: narrow it to the peer
		default:
			o.stats.refused.Add(1)
			return dec, fmt.Errorf("oe: peer %s proposes network selector %v-%v: OE is host to host: %w",
				req.Remote, ts.Start, ts.End, errRefused)
		}
		if g := o.groupOf(host); !g.Responds() {
			o.stats.refused.Add(1)
			return dec, fmt.Errorf("oe: %s is in our %s group: OE %w", host, g, errRefused)
		}
		if !containsHost(dec.TSi, host) {
			dec.TSi = append(dec.TSi, ike.HostSelector(host))
		}
	}
	// Our side (TSr): ourselves, or a client we serve as gateway. Narrow
	// a wide proposal (e.g. Libreswan's full ranges) to what it names.
	viaGateway := false
	for _, ts := range req.TSr {
		switch host, isHost := hostOf([]ike.TrafficSelector{ts}); {
		case isHost && host == req.Local:
			dec.TSr = append(dec.TSr, ike.HostSelector(host))
		case isHost && o.servesClient(host):
			dec.TSr = append(dec.TSr, ike.HostSelector(host))
			viaGateway = true
		case tunnel.InRange(ts, req.Local) && !containsHost(dec.TSr, req.Local):
			dec.TSr = append(dec.TSr, ike.HostSelector(req.Local))
		}
	}
	if len(dec.TSr) == 0 || len(dec.TSi) == 0 {
		o.stats.refused.Add(1)
		return dec, fmt.Errorf("oe: peer %s asks for selectors we do not serve: %w", req.Remote, errRefused)
	}
	dec.Mode = ike.ModeTunnel
	if req.Transport && !viaGateway && len(dec.TSi) == 1 && dec.TSi[0].Start == req.Remote {
		dec.Mode = ike.ModeTransport
	}
	return dec, nil
}

func (o *OE) checkDelegation(ctx context.Context, req ike.ChildRequest, client netip.Addr) error {
	if req.Auth != ike.AuthKindPubkey {
		o.stats.refused.Add(1)
		return fmt.Errorf("oe: peer %s claims to be the gateway of %s without a key (%s auth): %w",
			req.Remote, client, req.Auth, errRefused)
	}
	gw, ok := dnsID(req.PeerID)
	if !ok {
		o.stats.refused.Add(1)
		return fmt.Errorf("oe: peer identity %v cannot be a gateway: %w", req.PeerID, errRefused)
	}
	okd, err := o.keys.Authorizes(ctx, dnskey.AddrID(client), gw)
	if err != nil || !okd {
		o.stats.refused.Add(1)
		why := "no record of the client names it as gateway"
		if err != nil {
			why = err.Error()
		}
		return fmt.Errorf("oe: peer %s (%s) claims to be the gateway of %s: %s: %w", req.Remote, gw, client, why, errRefused)
	}
	return nil
}

func (o *OE) servesClient(a netip.Addr) bool {
	for _, p := range o.cfg.GatewayFor {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// groupOf is the policy group in force for a.
func (o *OE) groupOf(a netip.Addr) policygroups.Group {
	return o.policy.Load().Group(a)
}

func containsHost(tss []ike.TrafficSelector, a netip.Addr) bool {
	for _, ts := range tss {
		if ts.Start == a && ts.End == a {
			return true
		}
	}
	return false
}
