package ike

import (
	"context"
	"crypto"
	"net/netip"
	"slices"
)

// PeerKeysFunc yields the public keys the responder of one initiation may
// sign with. It is the initiator's alternative to KeyResolver: the caller
// has looked the keys up already (or is looking them up while IKE_SA_INIT
// runs) and hands them over with the initiation, so the engine neither
// looks them up again nor needs a side table to learn them.
//
// The engine calls it at most once, when the IKE_AUTH response arrives and
// its signature is to be verified, outside every engine lock and with the
// context given to Initiate: it may block until the keys are known (a
// promise), and must return when ctx ends. Errors are classed as
// KeyResolver's are: one wrapping ErrNoKey fails the peer's
// authentication, any other is a failure to verify it.
type PeerKeysFunc func(ctx context.Context) ([]crypto.PublicKey, error)

// StaticKeys is a PeerKeysFunc for keys known before the initiation
// starts (a gateway's key learnt from its client's record, a key file).
func StaticKeys(keys ...crypto.PublicKey) PeerKeysFunc {
	keys = slices.Clone(keys)
	return func(context.Context) ([]crypto.PublicKey, error) { return keys, nil }
}

// LocalKeyResolver is an optional extension of KeyResolver for the keys
// it holds in memory (a configured conn's key file). LocalPeerKeys must
// not block: ok false sends the engine to PeerKeys, on a goroutine of its
// own, as for every look-up that may wait (DNS). Like PeerKeys it is
// called outside every engine lock.
type LocalKeyResolver interface {
	LocalPeerKeys(peer Identity, remote netip.Addr) (keys []crypto.PublicKey, ok bool)
}

// keysAtHand is the engine's LocalKeyResolver for the peer proving id,
// when sa's look-up goes to the engine's KeyResolver (not to an
// initiation's own PeerKeys) and that has one: the keys of a configured
// conn are then taken on the goroutine that handled the peer's IKE_AUTH,
// without a goroutine and its hand-off per handshake. nil otherwise.
// Called with sa.mu held; the function it returns is called without.
func (sa *ikeSA) keysAtHand(id Identity) func() ([]crypto.PublicKey, bool) {
	if in := sa.init; in != nil && in.ctx != nil && in.opts.PeerKeys != nil {
		return nil
	}
	l, ok := sa.e.cfg.Keys.(LocalKeyResolver)
	if !ok {
		return nil
	}
	remote := sa.remote.Addr()
	return func() ([]crypto.PublicKey, bool) { return l.LocalPeerKeys(id, remote) }
}
