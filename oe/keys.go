package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
)

// KeySource is what oe needs of DNS; *dnskey.Resolver implements it.
type KeySource interface {
	Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error)
	Authorizes(ctx context.Context, client, gateway dnskey.ID) (bool, error)
}

// dnsID converts an IKE identity to the DNS identity whose records hold its
// key. Only address and FQDN identities have one.
func dnsID(id ike.Identity) (dnskey.ID, bool) {
	if a, ok := id.Addr(); ok {
		return dnskey.AddrID(a), true
	}
	if id.Type == ike.IDFQDN && len(id.Data) > 0 {
		d, err := dnskey.ParseID("@" + strings.TrimSuffix(string(id.Data), "."))
		if err == nil {
			return d, true
		}
	}
	return dnskey.ID{}, false
}

// keyAnswer is the answer to one DNS look-up of a target's key, which
// a negotiation waits for and, through ownKeys, the engine too.
type keyAnswer struct {
	done chan struct{} // closed once res and err are set
	res  dnskey.Result
	err  error
}

// lookup starts the DNS look-up of target's key, the only one of its
// negotiation.
func (o *OE) lookup(ctx context.Context, target netip.Addr) *keyAnswer {
	a := &keyAnswer{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		o.stats.dnsLookups.Add(1)
		a.res, a.err = o.keys.Lookup(ctx, dnskey.AddrID(target))
	}()
	return a
}

// ownKeys is the PeerKeys of an attempt that takes target for its own
// gateway: once DNS has answered, the keys target publishes at its own
// name. The engine asks it when IKE_AUTH is answered, which may be before
// DNS is: it then waits, until ctx (the negotiation's) ends.
func (a *keyAnswer) ownKeys(target netip.Addr) ike.PeerKeysFunc {
	return func(ctx context.Context) ([]crypto.PublicKey, error) {
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("oe: key for %s: %w", target, context.Cause(ctx))
		}
		return ownKeys(dnskey.AddrID(target), ike.AddrIdentity(target), a.res, a.err)
	}
}

// ownKeys picks from a DNS answer for id the keys peer may sign with:
// those of records naming no gateway, or peer itself (a record naming
// another gateway delegates to that gateway's key). Errors wrap
// ike.ErrNoKey when there is none.
func ownKeys(id dnskey.ID, peer ike.Identity, res dnskey.Result, err error) ([]crypto.PublicKey, error) {
	if err != nil {
		if errors.Is(err, dnskey.ErrNoKey) {
			return nil, fmt.Errorf("oe: %s: %w: %w", id, ike.ErrNoKey, err)
		}
		return nil, fmt.Errorf("oe: key for %s: %w", id, err)
	}
	var keys []crypto.PublicKey
	for _, k := range res.Keys {
		if k.PublicKey == nil {
			continue
		}
		switch k.Gateway.Kind {
		case dnskey.GatewayNone:
		case dnskey.GatewayAddr:
			if a, ok := peer.Addr(); !ok || a != k.Gateway.Addr {
				continue // the key of another gateway, delegated to
			}
		default:
			continue
		}
		keys = append(keys, k.PublicKey)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("oe: %s publishes no key of its own: %w", id, ike.ErrNoKey)
	}
	return keys, nil
}

// PeerKeys implements ike.KeyResolver, for peers that initiate to us: the
// keys a peer may sign with are those published at its own name (records
// naming no gateway, or itself). Our own initiations bring their keys
// (negotiate).
func (o *OE) PeerKeys(ctx context.Context, peer ike.Identity, remote netip.Addr) ([]crypto.PublicKey, error) {
	id, ok := dnsID(peer)
	if !ok {
		return nil, fmt.Errorf("oe: peer identity %v has no DNS name: %w", peer, ike.ErrNoKey)
	}
	o.stats.dnsLookups.Add(1)
	res, err := o.keys.Lookup(ctx, id)
	return ownKeys(id, peer, res, err)
}
