package main

import (
	"crypto"
	"io"
	"sync/atomic"
)

// hostSigner is the IKE engine's Signer: the host key, which a key
// rollover switches while the daemon runs (its step 3, after both keys
// have been published for one TTL). The engine asks Public and Sign for
// every AUTH it computes, so the switch takes effect at the next one.
type hostSigner struct {
	cur atomic.Pointer[signerBox]
}

// signerBox holds a key with its public half, taken once: the engine asks
// for it several times a handshake, and an Ed25519 key's Public copies the
// key each time (about 9 allocations a handshake). Callers only read it.
type signerBox struct {
	crypto.Signer
	pub crypto.PublicKey
}

func newSignerBox(k crypto.Signer) *signerBox { return &signerBox{k, k.Public()} }

func newHostSigner(k crypto.Signer) *hostSigner {
	h := &hostSigner{}
	h.cur.Store(newSignerBox(k))
	return h
}

// Public returns the public half of the key in use.
func (h *hostSigner) Public() crypto.PublicKey { return h.cur.Load().pub }

// Sign signs with the key in use.
func (h *hostSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return h.cur.Load().Sign(rand, digest, opts)
}

// current returns the key in use.
func (h *hostSigner) current() crypto.Signer { return h.cur.Load().Signer }

// swap makes k the key in use.
func (h *hostSigner) swap(k crypto.Signer) { h.cur.Store(newSignerBox(k)) }
