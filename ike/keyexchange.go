package ike

import (
	"fmt"
	"io"
)

// This file is the one interface through which the engine runs a key
// exchange (transform type 4), whether the method is a Diffie-Hellman group
// (dh.go) or a key encapsulation method (mlkem.go). The two roles differ:
//
//   - The initiator starts: StartKeyExchange gives it a KeyExchange whose
//     Public is the KE data to send (a DH public value, or an ML-KEM
//     encapsulation key), and whose SharedSecret takes the responder's KE
//     data (a DH public value, or an ML-KEM ciphertext to decapsulate).
//   - The responder answers in one step: RespondKeyExchange takes the
//     initiator's KE data and returns the KE data to send back and the
//     shared secret (for ML-KEM, it encapsulates to the initiator's key).
//
// For a DH group the responder's step is what it always was: generate a key
// pair, combine it with the peer's value, send the public value. Every
// rejection of the peer's data wraps ErrInvalidKE, so that callers can
// answer INVALID_SYNTAX for it and nothing else.

// KeyExchange is the initiator's half of one key exchange.
type KeyExchange interface {
	// Group is the key exchange method.
	Group() DHGroup
	// Public is the KE payload data to send.
	Public() []byte
	// SharedSecret computes the shared secret (g^ir for DH) from the
	// responder's KE data; a value of the wrong length or encoding is an
	// error wrapping ErrInvalidKE.
	SharedSecret(peer []byte) ([]byte, error)
}

// StartKeyExchange begins a key exchange with method g as initiator. rnd
// nil means crypto/rand; ML-KEM always draws from crypto/rand, because Go's
// crypto/mlkem takes no reader.
func StartKeyExchange(g DHGroup, rnd io.Reader) (KeyExchange, error) {
	if g.KEM() {
		return generateKEM(g)
	}
	return GenerateDH(g, rnd)
}

// RespondKeyExchange answers the initiator's KE data peer for method g as
// responder: ours is the KE data to send back, secret the shared secret.
// An error wrapping ErrInvalidKE means peer is unusable (the caller answers
// INVALID_SYNTAX); any other error is ours (an unimplemented method, or no
// randomness).
func RespondKeyExchange(g DHGroup, peer []byte, rnd io.Reader) (ours, secret []byte, err error) {
	if g.KEM() {
		return encapsulateKEM(g, peer)
	}
	dh, err := GenerateDH(g, rnd)
	if err != nil {
		return nil, nil, err
	}
	if secret, err = dh.SharedSecret(peer); err != nil {
		return nil, nil, err
	}
	return dh.Public(), secret, nil
}

// errKELength is the error for KE data of the wrong length: it names the
// method, what the data should have been, and both lengths.
func errKELength(g DHGroup, what string, got, want int) error {
	return fmt.Errorf("ike: KE payload: %v %s: %w: %d octets, want %d", g, what, ErrInvalidKE, got, want)
}
