package ike

import "errors"

// ErrAuthentication is wrapped by every AUTH verification failure and by
// SK integrity failures; the engine maps it to AUTHENTICATION_FAILED or
// silently drops the message as RFC 7296 requires.
var ErrAuthentication = errors.New("authentication failed")

// ErrIntegrity is wrapped when an SK or SKF payload fails its integrity
// check. Such messages must be dropped without a reply (RFC 7296 §2.21.2).
var ErrIntegrity = errors.New("integrity check failed")
