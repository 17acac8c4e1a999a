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
type BindingSource interface {
	Lookup(addr netip.Addr) (dnskey.Binding, bool)
}

// bound returns target's live binding, if bindings are configured.
func (o *OE) bound(target netip.Addr) (dnskey.Binding, bool) {
	if o.cfg.Bindings == nil {
		return dnskey.Binding{}, false
	}
	return o.cfg.Bindings.Lookup(target)
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
