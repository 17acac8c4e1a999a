package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// This file holds how an IKE SA ends when we, not the peer, walk away
// from it: an initiation its caller gave up on (context cancelled,
// engine shutting down), the engine's shutdown, and the liveness check a
// caller asks for. The rule throughout: once the peer may hold the SA,
// it hears a Delete, retransmitted for a bounded time only.

// errAbandoned is the reason an abandoned initiation's SA is removed with,
// once the peer has been told (debug logs).
var errAbandoned = errors.New("ike: initiation abandoned")

// abandon ends an initiation that its caller gave up on: Initiate returns
// err at once, and a peer that may hold the SA is told.
//
//   - INIT_SENT: the peer holds at most a half-open SA, which expires on
//     its own; we cannot protect a Delete yet. The SA goes.
//   - AUTH_SENT, IKE_AUTH answered (we are verifying the peer's AUTH,
//     e.g. waiting for its key in DNS): the peer has installed its CHILD
//     SA and encrypts to us. A protected Delete(IKE) goes out,
//     retransmitted for AbandonTimeout, and the SA waits for it in
//     DELETING.
//   - AUTH_SENT, IKE_AUTH unanswered: a Delete now would fall outside the
//     peer's window (it answers requests in order, one at a time, and may
//     still be looking up our key), so IKE_AUTH keeps being retransmitted
//     for AbandonTimeout and the Delete follows its answer.
//   - ESTABLISHED: a Delete, without waiting.
//
// done, when not nil, receives once the SA is gone. Called with sa.mu held.
func (sa *ikeSA) abandon(err error, done chan error) {
	e := sa.e
	if sa.state == stDead {
		signal(done, nil)
		return
	}
	// Before IKE_AUTH there is nothing to tell the peer, and it happens
	// on every OE attempt toward a host without a key: debug only.
	level := slog.LevelInfo
	if sa.state == stInitSent {
		level = slog.LevelDebug
	}
	e.log.Log(e.life, level, "ike: initiation abandoned", "state", sa.state.String(), "remote", sa.remote,
		"spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "reason", err)
	if sa.state != stAuthSent {
		if sa.state == stEstablished {
			sa.sendDelete()
		}
		sa.die(err, false)
		signal(done, err)
		return
	}
	if in := sa.init; in != nil {
		sa.init = nil
		in.finish(ChildSAInfo{}, err)
	}
	sa.setState(stDeleting)
	deadline := e.cfg.Clock.Now().Add(e.cfg.AbandonTimeout)
	if r := sa.pending; r != nil && r.exch == wire.IKEAuth {
		r.onResponse = func(m *wire.Message) {
			if err := errorNotify(m); err != nil {
				var ne *NotifyError
				if !errors.As(err, &ne) || !isChildError(ne.Type) {
					// The peer refused the IKE SA: it holds nothing.
					sa.die(errAbandoned, false)
					signal(done, nil)
					return
				}
			}
			sa.deleteAbandoned(deadline, done)
		}
		r.onFail = func(err error) { signal(done, err) }
		if r.deadline.After(deadline) {
			r.deadline = deadline
			if r.timer != nil {
				r.timer.Stop()
			}
			sa.armRetransmit(r)
		}
		return
	}
	sa.deleteAbandoned(deadline, done)
}

// deleteAbandoned sends Delete(IKE) for an SA we abandoned and removes
// the SA when the peer answers or at deadline.
func (sa *ikeSA) deleteAbandoned(deadline time.Time, done chan error) {
	left := deadline.Sub(sa.e.cfg.Clock.Now())
	if left <= 0 {
		sa.sendDelete()
		sa.die(errAbandoned, false)
		signal(done, nil)
		return
	}
	sa.enqueue(&request{exch: wire.Informational, payloads: []wire.Payload{&wire.Delete{Protocol: ProtocolIKE}}, giveUp: left,
		onResponse: func(*wire.Message) {
			sa.die(errAbandoned, false)
			signal(done, nil)
		},
		onFail: func(err error) { signal(done, err) }})
}

// signal sends err on done, if there is one, without blocking.
func signal(done chan error, err error) {
	if done == nil {
		return
	}
	select {
	case done <- err:
	default:
	}
}

// shutdown tells every peer we go and waits, until ctx ends, for their
// answers; close then removes what is left.
func (e *Engine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		return e.close()
	}
	e.closing = true
	e.mu.Unlock()
	var dones []chan error
	for _, sa := range e.allSAs() {
		done := make(chan error, 1)
		sa.lock()
		switch sa.state {
		case stEstablished, stRekeyed:
			sa.deleteLocked(done)
			dones = append(dones, done)
		case stInitSent, stAuthSent:
			sa.abandon(ErrClosed, done)
			dones = append(dones, done)
		case stHalfOpen:
			sa.die(ErrClosed, false)
		}
		sa.unlock()
	}
	n := 0
	for _, done := range dones {
		if wait(ctx, done) == nil {
			n++
		}
		if ctx.Err() != nil {
			break
		}
	}
	e.log.Info("ike: shutdown: peers told", "ike_sas", len(dones), "answered", n)
	return e.close()
}

// probeLiveness sends an empty INFORMATIONAL on an established SA; a peer
// that does not answer within `within` is dead, and the SA goes with its
// CHILD SAs. done, when not nil, learns the outcome after the SA's lock
// is released: nil for an answer. No goroutine waits for it, so a burst of
// checks (every silent tunnel at once) costs no goroutine each.
func (e *Engine) probeLiveness(id SAID, within time.Duration, done func(error)) error {
	sa := e.findSA(id)
	if sa == nil {
		return fmt.Errorf("ike: liveness check: no IKE SA %v", id)
	}
	if within <= 0 {
		within = e.cfg.GiveUp
	}
	sa.lock()
	defer sa.unlock()
	if sa.state != stEstablished {
		return fmt.Errorf("ike: liveness check of %v: IKE SA is %v", id, sa.state)
	}
	remote := sa.remote
	finish := func(err error) {
		if done == nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("ike: liveness check of %v (%v): %w", remote, id, err)
		}
		sa.post(func() { done(err) })
	}
	sa.enqueue(&request{exch: wire.Informational, giveUp: within,
		onResponse: func(*wire.Message) { finish(nil) },
		onFail:     finish})
	return nil
}

// checkLiveness is probeLiveness that waits for the outcome until ctx ends.
func (e *Engine) checkLiveness(ctx context.Context, id SAID, within time.Duration) error {
	done := make(chan error, 1)
	if err := e.probeLiveness(id, within, func(err error) { done <- err }); err != nil {
		return err
	}
	if err := wait(ctx, done); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ike: liveness check of %v: %w", id, err)
		}
		return err
	}
	return nil
}
