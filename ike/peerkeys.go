package ike

import (
	"context"
	"crypto"
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
