package xfrm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/oemesh/oemesh/kernel"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Options configure the XFRM data plane.
type Options struct {
	// NetNS is the path of the network namespace to drive (e.g.
	// /run/netns/x); "" is the daemon's own.
	NetNS string
	// PriorityBase and ReqIDBase move our bands; 0 means the defaults.
	PriorityBase uint32
	ReqIDBase    uint32
	// KeepLarvalDrop leaves net.core.xfrm_larval_drop alone. By default it
	// is set to 0 at start (first packets of a negotiating flow are queued,
	// not dropped) and restored by Close.
	KeepLarvalDrop bool
	// FailClosed (kernel.fail_closed) keeps the traps at Close instead of
	// removing them: private and block as block policies, the other groups
	// as pass policies (so a clear prefix inside a private one stays
	// clear), and those prefixes stay blocked while the daemon is down.
	// The next start adopts them (Reconcile) until SetTrap replaces them.
	FailClosed bool
	// Logger gets debug lines for each transition; nil discards.
	Logger *slog.Logger
	// Now is the clock for event times and shunt expiry shown by Shunts;
	// nil is time.Now. Shunt lifetimes themselves are kept by the kernel.
	Now func() time.Time
}

// polKey is what makes a policy unique in the kernel.
type polKey struct {
	Sel selector
	Dir uint8
}

// Dataplane is the XFRM backend. Create it with New.
type Dataplane struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	ex       *executor
	sub      *nl.NetlinkSocket
	acquires chan kernel.Acquire
	expires  chan kernel.Expire
	readerOK chan struct{}
	stop     chan struct{} // closed by Close: ends the deferred-outbound watchers
	watchers sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	larvalOld string // "" if we did not change it
	owned     map[polKey]policy
	// stale are trap policies an earlier run left, adopted by Reconcile
	// and not set again since (failclosed.go).
	stale     map[polKey]bool
	traps     map[netip.Prefix]kernel.Trap
	excl      []policy // the port exclusions' pass policies (exclusion.go)
	flows     map[string]*flowEntry
	pairs     map[kernel.SAPairID]*pairEntry
	bySPI     map[spiKey]kernel.SAPairID
	shunts    map[kernel.Flow]shuntEntry
	shuntKeys map[polKey]kernel.Flow
	spis      map[spiKey]netip.Addr // allocated, not yet installed → peer
	reqids    map[uint32]bool       // reqids of the flows
	nextReqid uint32
}

var _ kernel.Dataplane = (*Dataplane)(nil)

// New opens the XFRM data plane: it removes what an earlier run left (our
// bands only), sets xfrm_larval_drop=0 unless told not to, and starts the
// reader of ACQUIRE, EXPIRE and POLEXPIRE.
func New(ctx context.Context, opts Options) (*Dataplane, error) {
	// The library's only switch for extended acks: errors then carry the
	// kernel's own message ("Requested AEAD algorithm not found").
	nl.EnableErrorMessageReporting = true
	if opts.PriorityBase == 0 {
		opts.PriorityBase = DefaultPriorityBase
	}
	if opts.ReqIDBase == 0 {
		opts.ReqIDBase = DefaultReqIDBase
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ex, err := startExecutor(opts.NetNS)
	if err != nil {
		return nil, fmt.Errorf("xfrm: %w", err)
	}
	d := &Dataplane{
		opts: opts, log: log.With("dataplane", "xfrm"), now: opts.Now, ex: ex,
		acquires:  make(chan kernel.Acquire, 1024),
		expires:   make(chan kernel.Expire, 1024),
		readerOK:  make(chan struct{}),
		stop:      make(chan struct{}),
		owned:     map[polKey]policy{},
		stale:     map[polKey]bool{},
		traps:     map[netip.Prefix]kernel.Trap{},
		flows:     map[string]*flowEntry{},
		pairs:     map[kernel.SAPairID]*pairEntry{},
		bySPI:     map[spiKey]kernel.SAPairID{},
		shunts:    map[kernel.Flow]shuntEntry{},
		shuntKeys: map[polKey]kernel.Flow{},
		spis:      map[spiKey]netip.Addr{},
		reqids:    map[uint32]bool{},
		nextReqid: opts.ReqIDBase + 1,
	}
	fail := func(err error) (*Dataplane, error) {
		if d.sub != nil {
			d.sub.Close()
		}
		ex.stop()
		return nil, fmt.Errorf("xfrm: %w", err)
	}
	// Subscribe before reconciling, so nothing between the two is missed.
	err = ex.do(func() error {
		s, err := nl.Subscribe(unix.NETLINK_XFRM, nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE)
		if err != nil {
			return fmt.Errorf("subscribe to XFRM acquire and expire: %w", err)
		}
		d.sub = s
		return s.SetReceiveBufferSize(1<<20, false)
	})
	if err != nil {
		return fail(err)
	}
	if np, ns, err := d.Reconcile(ctx); err != nil {
		return fail(err)
	} else if np+ns+len(d.stale) > 0 {
		d.log.Info("removed state left by an earlier run", "policies", np, "sas", ns, "traps_kept", len(d.stale))
	}
	if !opts.KeepLarvalDrop {
		old, err := ex.readSysctl(larvalDropPath)
		if err != nil {
			return fail(fmt.Errorf("keep first packets while negotiating: %w (set KeepLarvalDrop to run without)", err))
		}
		if old != "0" {
			if err := ex.writeSysctl(larvalDropPath, "0"); err != nil {
				return fail(err)
			}
			d.larvalOld = old
		}
	}
	go d.read()
	return d, nil
}

// Name implements kernel.Dataplane.
func (d *Dataplane) Name() string { return kernel.BackendXFRM }

// Reconcile removes every SA and shunt policy in our priority band and
// every SA in our reqid band, and nothing else; it returns the counts. The
// trap policies an earlier run left stay and are adopted: they keep
// trapping or blocking until SetTrap replaces them or RemoveStaleTraps
// removes them, so a restart has no moment in which a private prefix has
// no policy (failclosed.go). New calls it.
func (d *Dataplane) Reconcile(ctx context.Context) (policies, sas int, err error) {
	pols, err := d.ex.policies()
	if err != nil {
		return 0, 0, fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	for _, p := range pols {
		class, ours := classOf(d.opts.PriorityBase, p.Priority)
		if !ours || p.Dir > dirFwd {
			continue
		}
		if class == classTrap && p.Dir == dirOut {
			d.adopt(p)
			continue
		}
		if err := d.ex.delPolicyIndex(p); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
			continue
		}
		policies++
	}
	sas, err = d.removeOurStates()
	if err != nil {
		errs = append(errs, err)
	}
	// CAT tables without their policies translate nothing, but they are
	// ours to remove; a broken nft must not keep the daemon from starting.
	if n, err := d.removeCATTables(ctx); err != nil {
		d.log.Warn("reconcile: CAT tables of an earlier run", "err", err)
	} else if n > 0 {
		d.log.Info("removed CAT tables left by an earlier run", "tables", n)
	}
	if err := errors.Join(errs...); err != nil {
		return policies, sas, fmt.Errorf("reconcile: %w", err)
	}
	return policies, sas, ctx.Err()
}

// removeOurStates deletes every SA in our reqid band, larval ones included
// (a larval state left behind would swallow the next acquire for its flow
// until xfrm_acq_expires).
func (d *Dataplane) removeOurStates() (int, error) {
	sts, err := d.ex.states()
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, s := range sts {
		if !d.ourReqid(s.Reqid) {
			continue
		}
		if s.SPI == 0 {
			err = d.ex.delLarval(s)
		} else {
			err = d.ex.delState(s.Dst, s.SPI)
		}
		if err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (d *Dataplane) ourReqid(r uint32) bool {
	return r >= d.opts.ReqIDBase && r < d.opts.ReqIDBase+ReqIDBand
}

// put installs p, replacing our own policy with the same selector (never
// a foreign one: that gives EEXIST).
func (d *Dataplane) put(p policy) error {
	k := polKey{p.Sel, p.Dir}
	_, mine := d.owned[k]
	if err := d.ex.putPolicy(p, mine); err != nil {
		return err
	}
	d.owned[k] = p
	delete(d.stale, k)
	return nil
}

func (d *Dataplane) del(sel selector, dir uint8) error {
	k := polKey{sel, dir}
	delete(d.owned, k)
	delete(d.stale, k)
	if err := d.ex.delPolicy(sel, dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

func (d *Dataplane) checkOpen() error {
	if d.closed {
		return errors.New("xfrm: data plane is closed")
	}
	return nil
}

// Acquires implements kernel.Dataplane.
func (d *Dataplane) Acquires() <-chan kernel.Acquire { return d.acquires }

// Expires implements kernel.Dataplane.
func (d *Dataplane) Expires() <-chan kernel.Expire { return d.expires }

// Close implements kernel.Dataplane: it removes our SAs, policies and
// allocated SPIs (keeping the traps as block and pass policies if
// FailClosed, see stoppedTrap), restores xfrm_larval_drop and closes the
// event channels. Each trap policy is replaced in place, never removed
// first, so no packet passes in clear in between.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("xfrm: closed twice")
	}
	d.closed = true
	d.mu.Unlock()

	d.sub.Close() // ends the reader
	<-d.readerOK
	close(d.stop)
	d.watchers.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for id := range d.pairs {
		if err := d.deletePair(id, false); err != nil {
			errs = append(errs, err)
		}
	}
	for k := range d.shuntKeys {
		if err := d.del(k.Sel, k.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	for p, t := range d.traps {
		if d.opts.FailClosed {
			pol, _ := d.trapPolicy(stoppedTrap(t))
			if err := d.put(pol); err != nil {
				errs = append(errs, fmt.Errorf("keep %s fail-closed: %w", p, err))
			}
			continue
		}
		if err := d.del(selector{Src: anyPrefix(p.Addr()), Dst: p}, dirOut); err != nil {
			errs = append(errs, err)
		}
	}
	// Whatever else we still own (e.g. flows kept by KeepPolicy; trap
	// policies of an earlier run, kept with FailClosed as they are).
	for k, pol := range d.owned {
		if d.opts.FailClosed && d.isTrapPolicy(k, pol) {
			continue
		}
		if err := d.del(k.Sel, k.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if d.opts.FailClosed {
		d.log.Info("fail_closed: block policies keep private and block prefixes closed while stopped (docs/failclosed.md)", "traps", len(d.traps))
	}
	// CATs of flows kept by KeepPolicy (the others went with their pairs).
	for _, fe := range d.flows {
		if err := d.removeFlowCATs(fe); err != nil {
			errs = append(errs, err)
		}
	}
	// Allocated SPIs and larval states of our traps.
	if _, err := d.removeOurStates(); err != nil {
		errs = append(errs, err)
	}
	if d.larvalOld != "" {
		if err := d.ex.writeSysctl(larvalDropPath, d.larvalOld); err != nil {
			errs = append(errs, err)
		}
	}
	close(d.acquires)
	close(d.expires)
	d.ex.stop()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xfrm: close: %w", err)
	}
	return nil
}
