package fake

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// Call is one recorded method call: the method name and its argument.
type Call struct {
	Method string
	Arg    any
}

// Dataplane is the fake. The zero value is not usable; call New.
type Dataplane struct {
	mu       sync.Mutex
	now      func() time.Time
	calls    []Call
	traps    map[netip.Prefix]kernel.Trap
	sas      map[kernel.SAPairID]kernel.SAPair
	counters map[kernel.SAPairID]kernel.Counters
	shunts   map[kernel.Flow]kernel.Shunt
	excl     []kernel.Exclusion
	nextSPI  uint32
	errs     map[string]error
	closed   bool
	acquires chan kernel.Acquire
	expires  chan kernel.Expire
}

var _ kernel.Dataplane = (*Dataplane)(nil)

// New returns an empty fake whose clock is now (time.Now if nil).
func New(now func() time.Time) *Dataplane {
	if now == nil {
		now = time.Now
	}
	return &Dataplane{
		now:      now,
		traps:    map[netip.Prefix]kernel.Trap{},
		sas:      map[kernel.SAPairID]kernel.SAPair{},
		counters: map[kernel.SAPairID]kernel.Counters{},
		shunts:   map[kernel.Flow]kernel.Shunt{},
		nextSPI:  0xc0de0000,
		errs:     map[string]error{},
		acquires: make(chan kernel.Acquire, 64),
		expires:  make(chan kernel.Expire, 64),
	}
}

// FailNext makes the next call of method (e.g. "InstallSA") return err.
func (d *Dataplane) FailNext(method string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs[method] = err
}

// record logs the call and returns an injected error, or an error if closed.
func (d *Dataplane) record(method string, arg any) error {
	d.calls = append(d.calls, Call{Method: method, Arg: arg})
	if err, ok := d.errs[method]; ok {
		delete(d.errs, method)
		return err
	}
	if d.closed {
		return fmt.Errorf("fake dataplane: %s after Close", method)
	}
	return nil
}

// Calls returns a copy of the recorded calls, oldest first.
func (d *Dataplane) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Call(nil), d.calls...)
}

// Methods returns the names of the recorded calls, oldest first.
func (d *Dataplane) Methods() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make([]string, len(d.calls))
	for i, c := range d.calls {
		m[i] = c.Method
	}
	return m
}

// Name implements kernel.Dataplane.
func (d *Dataplane) Name() string { return "fake" }

// SetTrap implements kernel.Dataplane.
func (d *Dataplane) SetTrap(_ context.Context, t kernel.Trap) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("SetTrap", t); err != nil {
		return err
	}
	if !t.Prefix.IsValid() {
		return fmt.Errorf("fake dataplane: trap with invalid prefix")
	}
	d.traps[t.Prefix.Masked()] = t
	return nil
}

// RemoveTrap implements kernel.Dataplane.
func (d *Dataplane) RemoveTrap(_ context.Context, p netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("RemoveTrap", p); err != nil {
		return err
	}
	if _, ok := d.traps[p.Masked()]; !ok {
		return fmt.Errorf("fake dataplane: remove trap %s: no such trap", p)
	}
	delete(d.traps, p.Masked())
	return nil
}

// SetExclusions implements kernel.Dataplane.
func (d *Dataplane) SetExclusions(_ context.Context, xs []kernel.Exclusion) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("SetExclusions", xs); err != nil {
		return err
	}
	for _, x := range xs {
		if err := x.Check(); err != nil {
			return fmt.Errorf("fake dataplane: %w", err)
		}
	}
	d.excl = slices.Clone(xs)
	return nil
}

// Exclusions returns the port exclusions in place.
func (d *Dataplane) Exclusions() []kernel.Exclusion {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.excl)
}

// Traps returns the traps in place.
func (d *Dataplane) Traps() []kernel.Trap {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.Trap, 0, len(d.traps))
	for _, t := range d.traps {
		out = append(out, t)
	}
	return out
}

// Acquires implements kernel.Dataplane.
func (d *Dataplane) Acquires() <-chan kernel.Acquire { return d.acquires }

// Expires implements kernel.Dataplane.
func (d *Dataplane) Expires() <-chan kernel.Expire { return d.expires }

// InjectAcquire sends an acquire as if a packet had hit a trap. Group and
// Trap are filled from the most specific trap covering the destination when
// left zero; Time from the clock.
func (d *Dataplane) InjectAcquire(a kernel.Acquire) {
	d.mu.Lock()
	if !a.Trap.IsValid() {
		best := -1
		for p, t := range d.traps {
			if p.Contains(a.Flow.Dst) && p.Bits() > best {
				best, a.Trap, a.Group = p.Bits(), p, t.Group
			}
		}
	}
	if a.Time.IsZero() {
		a.Time = d.now()
	}
	if !d.closed {
		d.acquires <- a // buffered (64); the lock keeps Close from closing it under us
	}
	d.mu.Unlock()
}

// InjectExpire sends an expire event. An ExpireHard removes the pair and an
// ExpireShunt the shunt, as the kernel would.
func (d *Dataplane) InjectExpire(e kernel.Expire) {
	d.mu.Lock()
	switch e.Kind {
	case kernel.ExpireHard:
		delete(d.sas, e.SA)
	case kernel.ExpireShunt:
		delete(d.shunts, e.Flow)
	}
	if e.Time.IsZero() {
		e.Time = d.now()
	}
	if !d.closed {
		d.expires <- e // buffered (64); the lock keeps Close from closing it under us
	}
	d.mu.Unlock()
}

// AllocSPI implements kernel.Dataplane; SPIs count up from 0xc0de0000.
func (d *Dataplane) AllocSPI(_ context.Context, src, dst netip.Addr) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("AllocSPI", [2]netip.Addr{src, dst}); err != nil {
		return 0, err
	}
	d.nextSPI++
	return d.nextSPI, nil
}

// InstallSA implements kernel.Dataplane.
func (d *Dataplane) InstallSA(_ context.Context, p kernel.SAPair) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("InstallSA", p); err != nil {
		return err
	}
	if p.In.SPI == 0 || p.Out.SPI == 0 {
		return fmt.Errorf("fake dataplane: install SA pair to %s: zero SPI (in %#x, out %#x)", p.Out.Dst, p.In.SPI, p.Out.SPI)
	}
	if !p.Mode.Valid() {
		return fmt.Errorf("fake dataplane: install SA pair to %s: mode is %v, want transport or tunnel", p.Out.Dst, p.Mode)
	}
	if p.CAT != nil {
		if err := p.CAT.Check(p.Mode, p.Local); err != nil {
			return fmt.Errorf("fake dataplane: install SA pair to %s: %w", p.Out.Dst, err)
		}
	}
	d.sas[p.ID()] = p
	return nil
}

// DeleteSA implements kernel.Dataplane.
func (d *Dataplane) DeleteSA(_ context.Context, id kernel.SAPairID, opts kernel.DeleteOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("DeleteSA", id); err != nil {
		return err
	}
	if _, ok := d.sas[id]; !ok {
		return fmt.Errorf("fake dataplane: delete SA pair %s in %#x out %#x: no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	delete(d.sas, id)
	delete(d.counters, id)
	return nil
}

// SAs returns the installed pairs.
func (d *Dataplane) SAs() []kernel.SAPair {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.SAPair, 0, len(d.sas))
	for _, p := range d.sas {
		out = append(out, p)
	}
	return out
}

// SetCounters sets what SACounters reports for a pair.
func (d *Dataplane) SetCounters(id kernel.SAPairID, c kernel.Counters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counters[id] = c
}

// SACounters implements kernel.Dataplane.
func (d *Dataplane) SACounters(_ context.Context, id kernel.SAPairID) (kernel.Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("SACounters", id); err != nil {
		return kernel.Counters{}, err
	}
	if _, ok := d.sas[id]; !ok {
		return kernel.Counters{}, fmt.Errorf("fake dataplane: counters of SA pair %s in %#x out %#x: no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	return d.counters[id], nil
}

// SetShunt implements kernel.Dataplane.
func (d *Dataplane) SetShunt(_ context.Context, s kernel.Shunt) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("SetShunt", s); err != nil {
		return err
	}
	if s.Lifetime <= 0 {
		return fmt.Errorf("fake dataplane: %s shunt for %s: lifetime %v must be positive", s.Kind, s.Flow.Dst, s.Lifetime)
	}
	s.Expires = d.now().Add(s.Lifetime)
	d.shunts[s.Flow] = s
	return nil
}

// RemoveShunt implements kernel.Dataplane.
func (d *Dataplane) RemoveShunt(_ context.Context, f kernel.Flow) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record("RemoveShunt", f); err != nil {
		return err
	}
	if _, ok := d.shunts[f]; !ok {
		return fmt.Errorf("fake dataplane: remove shunt %s→%s: no such shunt", f.Src, f.Dst)
	}
	delete(d.shunts, f)
	return nil
}

// Shunts implements kernel.Dataplane.
func (d *Dataplane) Shunts(context.Context) ([]kernel.Shunt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.Shunt, 0, len(d.shunts))
	for _, s := range d.shunts {
		out = append(out, s)
	}
	return out, nil
}

// ExpireShunts ends every shunt whose lifetime is over by the clock and
// sends ExpireShunt for each, as a backend's timer would. Tests advance
// their clock and call it.
func (d *Dataplane) ExpireShunts() int {
	d.mu.Lock()
	now := d.now()
	var gone []kernel.Flow
	for f, s := range d.shunts {
		if !now.Before(s.Expires) {
			gone = append(gone, f)
		}
	}
	d.mu.Unlock()
	for _, f := range gone {
		d.InjectExpire(kernel.Expire{Kind: kernel.ExpireShunt, Flow: f})
	}
	return len(gone)
}

// Close implements kernel.Dataplane: it forgets all state and closes the
// event channels. A second Close returns an error.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, Call{Method: "Close"})
	if d.closed {
		return fmt.Errorf("fake dataplane: closed twice")
	}
	d.closed = true
	clear(d.traps)
	clear(d.sas)
	clear(d.shunts)
	close(d.acquires)
	close(d.expires)
	return nil
}
