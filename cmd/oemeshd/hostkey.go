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

type signerBox struct{ crypto.Signer }

func newHostSigner(k crypto.Signer) *hostSigner {
	h := &hostSigner{}
	h.cur.Store(&signerBox{k})
	return h
}

// Public returns the public half of the key in use.
func (h *hostSigner) Public() crypto.PublicKey { return h.cur.Load().Public() }

// Sign signs with the key in use.
func (h *hostSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return h.cur.Load().Sign(rand, digest, opts)
}

// current returns the key in use.
func (h *hostSigner) current() crypto.Signer { return h.cur.Load().Signer }

// swap makes k the key in use.
func (h *hostSigner) swap(k crypto.Signer) { h.cur.Store(&signerBox{k}) }
