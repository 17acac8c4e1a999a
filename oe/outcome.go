package oe

import (
	"errors"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/policygroups"
)

//go:generate go tool stringer -type=Result -linecomment

// Result is how a negotiation ended: encrypted, or the failure shunt it
// left for the flow.
type Result uint8

// Results. The zero value is no result.
const (
	ResultEncrypted Result = iota + 1 // encrypted
	ResultClear                       // clear
	ResultDrop                        // drop
)

// Outcome is how a negotiation ended, for logs, metrics and `oemesh up`.
type Outcome struct {
	Target netip.Addr
	// Group is the target's policy group: the one the negotiation started
	// in, or for a failure the one in force when it ended (a reload may
	// have moved the target), whose shunt the flow got.
	Group   policygroups.Group
	Result  Result
	Auth    ike.AuthKind // how the peer authenticated (ResultEncrypted)
	Gateway netip.Addr   // the target's IPsec gateway, when it has one
	// Reason says why it failed, as logged; Err is the cause, with the
	// errors of the parts that failed (ike, dnskey) in its chain.
	Reason   string
	Err      error
	Duration time.Duration
	// IKE is how long its IKE initiations took, together; they run
	// beside the DNS look-up, so IKE is not Duration less the DNS time.
	IKE time.Duration
}

// NegotiationError is the error of a negotiation that did not encrypt
// (what Up returns). Its message is the Reason logged; the failure's
// cause is in its chain, so errors.Is and errors.As find, for instance,
// dnskey.ErrNoKey, ike.ErrTimeout, ike.ErrAuthentication or a
// *ike.NotifyError the peer answered with.
type NegotiationError struct {
	Outcome // Result is ResultClear or ResultDrop: the shunt the flow got
}

func (e *NegotiationError) Error() string { return e.Reason }

// Unwrap returns the cause.
func (e *NegotiationError) Unwrap() error { return e.Err }

// Failure causes of oe's own, beside those of ike and dnskey.
var (
	// ErrTooManyNegotiations: MaxNegotiations were running already.
	ErrTooManyNegotiations = errors.New("oe: too many negotiations at once")
	// ErrNoUsableKey: the target's DNS records name no key an initiator
	// can use (a gateway by name only).
	ErrNoUsableKey = errors.New("oe: DNS has records but none an initiator can use")
	// ErrNoOE: Up was asked to negotiate with a destination whose group
	// (clear or block) allows no OE.
	ErrNoOE = errors.New("oe: the destination's group allows no OE")
)

// errPolicyChanged is the cause a negotiation is stopped with when a
// reloaded policy puts its target in a group that does not initiate.
var errPolicyChanged = errors.New("oe: the policy no longer initiates toward this destination")

// errStopping is the cause negotiations are stopped with by Close.
var errStopping = errors.New("oe: stopping")
