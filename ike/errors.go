package ike

import "errors"

// ErrAuthentication is wrapped by every AUTH verification failure and by
// SK integrity failures; the engine maps it to AUTHENTICATION_FAILED or
// silently drops the message as RFC 7296 requires.
var ErrAuthentication = errors.New("authentication failed")

// ErrIntegrity is wrapped when an SK or SKF payload fails its integrity
// check. Such messages must be dropped without a reply (RFC 7296 §2.21.2).
var ErrIntegrity = errors.New("integrity check failed")

// ErrPeerAuthMethod is wrapped, beside ErrAuthentication, when the
// responder authenticated by another method than the initiation wanted
// (InitiateOptions.PeerAuth): a raw key or NULL where a certificate was
// asked for. Unlike a refused certificate, that says nothing against the
// peer, and a caller may try again asking for what it offers.
var ErrPeerAuthMethod = errors.New("the peer authenticated by another method")
