package dnskey

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// The race this file closes: a DNS stub hands an application its answer
// first and looks up the keys at the name afterwards (the answer must
// never wait for that look-up). The application's first packet, sent
// right after the answer, starts OE before the binding exists, and OE
// then takes the reverse name's key and expects the address as identity
// — the wrong peer for a host that proves @name. So the stub marks the
// addresses of an answer pending before it writes the answer (Pend), and
// OE waits for a pending address to settle (Await), never longer than
// BindingsConfig.PendingWait from when it was marked.
//
// Each pending address is a small state machine, moved only by settle:
//
//	looking ─ Bind of the address ─────────────────────→ bound
//	looking ─ the last hold on it is Done, no binding ──→ none
//
// A waiter on a bound address takes its binding; on none, or past the
// deadline, it goes on as if nothing had been pending.

// pendState is where a pending address stands.
type pendState uint8

const (
	pendLooking pendState = iota // a look-up at a name that gave the address runs
	pendBound                    // a look-up bound the address
	pendNone                     // every look-up holding it ended without a binding
)

// pendingAddr is one address a name look-up is under way for.
type pendingAddr struct {
	state    pendState     // guarded by Bindings.mu; moved only by settle
	holders  int           // Pending holds on it not yet Done; guarded by Bindings.mu
	done     chan struct{} // closed when state leaves pendLooking
	deadline time.Time     // waits end here, settled or not
}

// Pending is a hold on addresses whose forward name is being looked up:
// OE to them waits (Bindings.Await) until the look-up binds them or the
// hold is released by Done. The holder must call Done exactly once,
// whatever happens to the look-up (failed, cancelled, never started):
// an address whose holds are all done without a Bind settles as "no
// binding", so nobody waits on it. The zero value and nil hold nothing.
type Pending struct {
	b     *Bindings
	addrs map[netip.Addr]*pendingAddr // guarded by b.mu; nil once Done
}

// ErrPendingTimeout is what Await reports when the look-up an address
// waited for had not settled by its deadline (BindingsConfig.PendingWait).
var ErrPendingTimeout = errors.New("the name look-up did not end in time")

// Pend marks addrs as being looked up at a forward name and returns the
// hold on them. An address already pending is joined: one state per
// address, settled by the first Bind of it or the last Done. It is a
// map insert; nothing waits.
func (b *Bindings) Pend(addrs []netip.Addr) *Pending {
	p := &Pending{b: b, addrs: map[netip.Addr]*pendingAddr{}}
	p.Add(addrs)
	return p
}

// Add puts more addresses under p (a later answer for the same name).
// Addresses p holds already, and invalid ones, are skipped; after Done
// it does nothing.
func (p *Pending) Add(addrs []netip.Addr) {
	if p == nil || p.b == nil {
		return
	}
	b := p.b
	now := b.cfg.Clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.addrs == nil {
		return
	}
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() {
			continue
		}
		if _, ok := p.addrs[a]; ok {
			continue
		}
		e, ok := b.pending[a]
		if !ok {
			e = &pendingAddr{done: make(chan struct{}), deadline: now.Add(b.cfg.PendingWait)}
			b.pending[a] = e
			b.pended.Add(1)
		}
		e.holders++
		p.addrs[a] = e
	}
}

// Done releases the hold: an address it held that no Bind settled, and
// that no other hold holds, settles as "no binding". Call it after the
// look-up's Bind, if any. A second call does nothing.
func (p *Pending) Done() {
	if p == nil || p.b == nil {
		return
	}
	b := p.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for a, e := range p.addrs {
		e.holders--
		if e.holders == 0 && e.state == pendLooking {
			b.settle(a, e, pendNone)
		}
	}
	p.addrs = nil
}

// settle moves e, the pending state of a, out of looking: the one place
// that does. Called with b.mu held.
func (b *Bindings) settle(a netip.Addr, e *pendingAddr, s pendState) {
	if e.state != pendLooking {
		return
	}
	e.state = s
	close(e.done)
	if b.pending[a] == e {
		delete(b.pending, a)
	}
}

// settleBound settles the pending state of a, if any, as bound. Called with
// b.mu held, by Bind.
func (b *Bindings) settleBound(a netip.Addr) {
	if e, ok := b.pending[a]; ok {
		b.settle(a, e, pendBound)
	}
}

// Await returns addr's live binding, like Lookup, but when a name look-up
// that gave addr is under way (Pend) it first waits for it to settle:
// until it binds addr, ends without a binding, its deadline
// (BindingsConfig.PendingWait from when addr was marked) passes, or ctx
// ends. waited reports whether it waited. The error is ErrPendingTimeout
// past the deadline, ctx's cause if ctx ended, nil otherwise; with an
// error the binding is what Lookup finds then (usually none).
func (b *Bindings) Await(ctx context.Context, addr netip.Addr) (bd Binding, ok, waited bool, err error) {
	addr = addr.Unmap()
	b.mu.Lock()
	e, pending := b.pending[addr]
	b.mu.Unlock()
	if pending {
		waited = true
		b.waits.Add(1)
		err = b.wait(ctx, e)
		switch {
		case errors.Is(err, ErrPendingTimeout):
			b.waitsTimedOut.Add(1)
		case err != nil:
			b.waitsCancelled.Add(1)
		}
	}
	bd, ok = b.Lookup(addr)
	if waited && err == nil {
		if ok {
			b.waitsBound.Add(1)
		} else {
			b.waitsNone.Add(1)
		}
	}
	return bd, ok, waited, err
}

// wait blocks until e settles, its deadline passes or ctx ends.
func (b *Bindings) wait(ctx context.Context, e *pendingAddr) error {
	left := e.deadline.Sub(b.cfg.Clock.Now())
	if left <= 0 {
		select {
		case <-e.done:
			return nil
		default:
			return fmt.Errorf("dnskey: waiting for a binding: %w", ErrPendingTimeout)
		}
	}
	expired := make(chan struct{})
	t := b.cfg.Clock.AfterFunc(left, func() { close(expired) })
	defer t.Stop()
	select {
	case <-e.done:
		return nil
	case <-expired:
		select {
		case <-e.done: // settled as the deadline came: take it
			return nil
		default:
		}
		return fmt.Errorf("dnskey: waiting %v for a binding: %w", b.cfg.PendingWait, ErrPendingTimeout)
	case <-ctx.Done():
		return fmt.Errorf("dnskey: waiting for a binding: %w", context.Cause(ctx))
	}
}
