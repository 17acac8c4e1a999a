package oe

import (
	"context"
	"net/netip"

	"github.com/oemesh/oemesh/dnskey"
)

// maxPrefetches bounds the responder's key look-ups started at
// IKE_SA_INIT (PrefetchPeerKeys) that run at once; beyond it a peer's
// key is looked up at IKE_AUTH, as without prefetching.
const maxPrefetches = 16

// PrefetchPeerKeys implements ike.KeyPrefetcher: once we have answered a
// peer's IKE_SA_INIT, start looking up the key it will sign with, so
// that PeerKeys at its IKE_AUTH finds the answer in the key source
// (dnskey.Resolver caches answers and shares a fetch under way) instead
// of waiting a DNS round trip with the handshake stalled.
//
// Which name: the peer's identity is known only at IKE_AUTH. When a name
// look-up bound the address to a forward name (the DNS stub, the unbound
// hook), the peer most likely proves @name: that name is looked up.
// Otherwise the address's reverse name, the identity of every peer that
// does not configure one. A peer that then proves another name is looked
// up at IKE_AUTH as before; the prefetch cost one look-up.
//
// Nothing is looked up for a peer in a group OE does not answer, under
// oe.null_auth=only, or beyond maxPrefetches at once.
func (o *OE) PrefetchPeerKeys(remote netip.Addr) {
	remote = remote.Unmap()
	if o.cfg.NullAuth == NullOnly || !o.groupOf(remote).Responds() {
		return
	}
	select {
	case <-o.closed:
		return
	default:
	}
	if o.prefetches.Add(1) > maxPrefetches {
		o.prefetches.Add(-1)
		o.stats.prefetchesSkipped.Add(1)
		return
	}
	o.stats.prefetches.Add(1)
	o.goDetached(func(ctx context.Context) {
		defer o.prefetches.Add(-1)
		// Close does not wait for a look-up nobody needs any more.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-o.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		id := dnskey.AddrID(remote)
		if b, ok := o.boundNow(remote); ok {
			id = b.ID()
		}
		_, err := o.keys.Lookup(ctx, id)
		o.log.Debug("OE: prefetched a peer's key at IKE_SA_INIT", "remote", remote, "id", id, "err", err)
	})
}

// bindingLookup is what *dnskey.Bindings offers beside Await: the live
// binding now, without waiting for a look-up under way (nor counting a
// wait).
type bindingLookup interface {
	Lookup(addr netip.Addr) (dnskey.Binding, bool)
}

// boundNow is remote's live binding, if the binding source can tell
// without waiting.
func (o *OE) boundNow(remote netip.Addr) (dnskey.Binding, bool) {
	if l, ok := o.cfg.Bindings.(bindingLookup); ok {
		return l.Lookup(remote)
	}
	return dnskey.Binding{}, false
}
