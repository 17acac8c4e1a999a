package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

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

// expectedKeys holds, per gateway address, keys learnt from a client's
// record (RFC 4322: the record at the client's name carries the gateway's
// key), so an initiator can verify a gateway that publishes nothing at its
// own name. Negotiations for several clients of one gateway run at once:
// each set is undone by its own clear, and the keys stay while any
// negotiation still needs them.
type expectedKeys struct {
	mu   sync.Mutex
	keys map[netip.Addr]*expected
}

type expected struct {
	keys  []crypto.PublicKey
	users int
}

func (e *expectedKeys) set(gw netip.Addr, k []crypto.PublicKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.keys == nil {
		e.keys = map[netip.Addr]*expected{}
	}
	x := e.keys[gw]
	if x == nil {
		x = &expected{}
		e.keys[gw] = x
	}
	x.users++
	for _, pk := range k {
		if !slices.ContainsFunc(x.keys, func(have crypto.PublicKey) bool { return sameKey(have, pk) }) {
			x.keys = append(x.keys, pk)
		}
	}
}

func (e *expectedKeys) clear(gw netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.keys[gw]; x != nil {
		if x.users--; x.users <= 0 {
			delete(e.keys, gw)
		}
	}
}

func (e *expectedKeys) get(gw netip.Addr) []crypto.PublicKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.keys[gw]; x != nil {
		return slices.Clone(x.keys)
	}
	return nil
}

// sameKey compares public keys (crypto's keys all have Equal).
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// PeerKeys implements ike.KeyResolver: the keys a peer may sign with are
// those published at its own name (records naming no gateway, or itself),
// plus any key a client's record gave us for it as gateway.
func (o *OE) PeerKeys(ctx context.Context, peer ike.Identity, remote netip.Addr) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	if a, ok := peer.Addr(); ok {
		keys = append(keys, o.expected.get(a)...)
	}
	id, ok := dnsID(peer)
	if !ok {
		if len(keys) > 0 {
			return keys, nil
		}
		return nil, fmt.Errorf("oe: peer identity %v has no DNS name: %w", peer, ike.ErrNoKey)
	}
	o.stats.dnsLookups.Add(1)
	res, err := o.keys.Lookup(ctx, id)
	if err != nil {
		if len(keys) > 0 {
			return keys, nil
		}
		if errors.Is(err, dnskey.ErrNoKey) {
			return nil, fmt.Errorf("oe: %s: %w: %w", id, ike.ErrNoKey, err)
		}
		return nil, fmt.Errorf("oe: key for %s: %w", id, err)
	}
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
