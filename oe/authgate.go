package oe

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// An OE negotiation sends IKE_SA_INIT to the target while DNS looks its
// key up, and DNS may then decide against that attempt (no usable key, an
// unsigned one, DNS down, a gateway elsewhere). Until IKE_AUTH is sent the
// attempt can be dropped without a trace: the peer holds a half-open SA
// that installs nothing. Once IKE_AUTH is out it cannot: the peer may
// verify us, install its half of the CHILD SA and count the IKE SA as up.
// If we then forget it silently, the peer keeps an SA we never installed:
//
//   - its packets to us go into that SA, and we drop them: when our DNS
//     failed and the flow went clear, none of its answers came back;
//   - a second negotiation for the same flow (the NULL fallback after an
//     unsigned key) races it, and whichever the peer finishes last
//     replaces the other (uniqueids), possibly the one we use.
//
// So an attempt that DNS decides against is dropped only if IKE_AUTH has
// not gone out; otherwise it runs to its end, which is a failure with a
// Delete to the peer (we cannot verify it) or, should it verify after all,
// a tunnel we keep. The point of no return is visible here: the engine
// allocates the CHILD SA's inbound SPI (AllocSPI) just before it sends
// IKE_AUTH, which carries that SPI, and an AllocSPI error ends the attempt
// before anything is sent. An authGate, keyed by the peer and our address,
// takes that moment in turn with the decision to withdraw.

// gateState is where an initiation stands with respect to IKE_AUTH.
type gateState uint8

const (
	gateOpen      gateState = iota // IKE_SA_INIT in flight; IKE_AUTH may still go out
	gatePassed                     // an SPI was allocated: IKE_AUTH is (about to be) out
	gateWithdrawn                  // DNS decided against the attempt: no IKE_AUTH may go out
)

// errWithdrawn is what AllocSPI returns for an attempt DNS decided against.
var errWithdrawn = errors.New("oe: IKE attempt withdrawn before IKE_AUTH: DNS decided against it")

type gateKey struct{ peer, local netip.Addr }

type authGate struct {
	state          gateState
	opened, passed time.Time // passed − opened ≈ the IKE_SA_INIT round trip
}

// authGates holds the gates of the OE initiations that run beside DNS.
// An SPI allocated toward the same peer for another reason (the peer's own
// initiation, a rekey) also passes an open gate: the attempt then runs to
// its end instead of being dropped, which costs time, never correctness.
type authGates struct {
	mu    sync.Mutex
	gates map[gateKey]*authGate
}

// open registers a gate for an initiation from local to peer. Only one
// negotiation runs per target (OE.start), so one gate per key suffices;
// should the key be taken all the same, there is no gate (nil), and the
// attempt is never withdrawn, only waited for: slower, never wrong.
func (g *authGates) open(peer, local netip.Addr, now time.Time) *authGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := gateKey{peer, local}
	if _, taken := g.gates[k]; taken {
		return nil
	}
	if g.gates == nil {
		g.gates = map[gateKey]*authGate{}
	}
	gt := &authGate{opened: now}
	g.gates[k] = gt
	return gt
}

// close removes the gate once its initiation has ended.
func (g *authGates) close(peer, local netip.Addr, gt *authGate) {
	if gt == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if k := (gateKey{peer, local}); g.gates[k] == gt {
		delete(g.gates, k)
	}
}

// pass is called from AllocSPI: it marks an open gate passed, and refuses
// an SPI to a withdrawn attempt.
func (g *authGates) pass(peer, local netip.Addr, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gt := g.gates[gateKey{peer, local}]
	switch {
	case gt == nil:
		return nil
	case gt.state == gateWithdrawn:
		return errWithdrawn
	}
	if gt.state == gateOpen {
		gt.state, gt.passed = gatePassed, now
	}
	return nil
}

// withdraw closes the gate unless IKE_AUTH is out, and reports whether it
// did: true means the attempt may be cancelled without a trace.
func (g *authGates) withdraw(gt *authGate) bool {
	if gt == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if gt.state == gatePassed {
		return false
	}
	gt.state = gateWithdrawn
	return true
}

// deleteGrace is how long to wait, after an attempt that had sent IKE_AUTH
// failed, before its flow is let out in the clear: the Delete the engine
// sent on failure is on the wire, but the peer may not have acted on it,
// and until it does its answers to our clear packets go into the SA it
// installed. Two IKE_SA_INIT round trips, within [20 ms, 500 ms].
func (g *authGates) deleteGrace(gt *authGate) time.Duration {
	if gt == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if gt.state != gatePassed {
		return 0
	}
	return min(max(2*gt.passed.Sub(gt.opened), 20*time.Millisecond), 500*time.Millisecond)
}
