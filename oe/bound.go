package oe

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
)

// BindingSource is what oe needs of the bindings that name look-ups make
// (a local stub resolver, unbound's ipsecmod hook): the forward name an
// address was found under and the keys published there.
// *dnskey.Bindings implements it.
//
// Await is Lookup that first waits, when a look-up at a name that gave
// addr is still running (the stub marks its answers' addresses pending
// before the application has them), for that look-up to bind addr or end
// without a binding, bounded by the store's own deadline and ctx. waited
// reports whether it waited; err whether the wait ended unsettled (its
// deadline, ctx), in which case the binding is whatever is there then.
type BindingSource interface {
	Await(ctx context.Context, addr netip.Addr) (b dnskey.Binding, ok, waited bool, err error)
}

// bound returns target's live binding, if bindings are configured,
// waiting for one that a name look-up is about to make: an application
// that sends its first packet right after the stub's answer must find
// the binding of its name, not race it. A wait that ends unsettled
// leaves OE to go on as without a binding (the reverse name's key).
func (o *OE) bound(ctx context.Context, target netip.Addr) (dnskey.Binding, bool) {
	if o.cfg.Bindings == nil {
		return dnskey.Binding{}, false
	}
	start := o.cfg.Clock.Now()
	b, ok, waited, err := o.cfg.Bindings.Await(ctx, target)
	if !waited {
		return b, ok
	}
	took := o.cfg.Clock.Now().Sub(start)
	switch {
	case err != nil:
		o.log.Info("OE: a name look-up for the target did not end in time: going on without waiting further",
			"target", target, "waited", took, "bound", ok, "err", err)
	case ok:
		o.log.Debug("OE: waited for the name look-up that bound the target", "target", target, "name", b.Name, "waited", took)
	default:
		o.log.Debug("OE: waited for a name look-up that bound nothing", "target", target, "waited", took)
	}
	return b, ok
}

// initiateBound runs OE to a target bound to a forward name. The keys are
// those published at the name, not at the reverse name of the address
// (no reverse look-up is made): the peer must prove the identity @name
// with one of them. When the name's preferred record names another
// gateway, the negotiation goes to that gateway as for a reverse record
// (initiateViaGateway), and it returns the gateway.
func (o *OE) initiateBound(ctx context.Context, n *negotiation, b dnskey.Binding) (netip.Addr, error) {
	keys := dnskey.Result{Keys: b.Keys}.Connectable()
	if len(keys) == 0 {
		return netip.Addr{}, fmt.Errorf("the records at %s name their gateway by name only: %w", b.Name, ErrNoUsableKey)
	}
	o.log.Info("OE: the target was bound to a forward name by a name look-up", "target", n.target, "name", b.Name,
		"secure", b.Secure, "expires", b.Expires)
	if gw := keys[0].Gateway; gw.Kind == dnskey.GatewayAddr && gw.Addr != n.target {
		return gw.Addr, o.initiateViaGateway(ctx, n, keys, gw)
	}
	id := ike.FQDNIdentity(strings.TrimSuffix(b.Name, "."))
	own, err := ownKeys(b.ID(), ike.AddrIdentity(n.target), dnskey.Result{Keys: b.Keys}, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.Addr{}, o.initiate(ctx, n, n.target, n.target, id, ike.AuthKindPubkey, ike.StaticKeys(own...))
}
