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

type spiKey struct {
	Dst netip.Addr
	SPI uint32
}

// flowEntry is one negotiated flow: its policies and the reqid its SAs
// share, so a rekeyed pair slides in under the same policies.
type flowEntry struct {
	reqid    uint32
	policies []policy
	pairs    int
}

type pairEntry struct {
	pair kernel.SAPair
	flow string
	// deferredOut is the outbound SA of a responder's rekeyed pair, held
	// back until the peer is heard on the pair's inbound SA (or the pair it
	// replaces goes): the kernel sends on the newest SA of a reqid at once.
	deferredOut *state
}

type shuntEntry struct {
	shunt kernel.Shunt
	key   polKey
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

// trapPolicy is the outbound policy that stands for a group on a prefix.
func (d *Dataplane) trapPolicy(t kernel.Trap) (policy, error) {
	p := t.Prefix.Masked()
	sel := selector{Src: anyPrefix(p.Addr()), Dst: p}
	pol := policy{Sel: sel, Dir: dirOut, Priority: priority(d.opts.PriorityBase, classTrap, sel)}
	switch t.Group {
	case kernel.GroupClear, kernel.GroupClearOrPrivate:
		// clear-or-private only responds: our own traffic goes clear.
		pol.Action = actionAllow
	case kernel.GroupBlock:
		pol.Action = actionBlock
	case kernel.GroupPrivate, kernel.GroupPrivateOrClear:
		pol.Tmpl = &tmpl{Family: sel.family(), Mode: modeTransport, Reqid: d.opts.ReqIDBase}
	default:
		return pol, fmt.Errorf("trap for %s: unknown group %d", p, t.Group)
	}
	return pol, nil
}

func (d *Dataplane) checkOpen() error {
	if d.closed {
		return errors.New("xfrm: data plane is closed")
	}
	return nil
}

// SetTrap implements kernel.Dataplane.
func (d *Dataplane) SetTrap(_ context.Context, t kernel.Trap) error {
	if !t.Prefix.IsValid() {
		return errors.New("xfrm: set trap: invalid prefix")
	}
	t.Prefix = t.Prefix.Masked()
	pol, err := d.trapPolicy(t)
	if err != nil {
		return fmt.Errorf("xfrm: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if err := d.put(pol); err != nil {
		return fmt.Errorf("xfrm: trap %s (%s): %w", t.Prefix, t.Group, err)
	}
	d.traps[t.Prefix] = t
	d.log.Debug("trap set", "prefix", t.Prefix, "group", t.Group, "priority", pol.Priority)
	return nil
}

// RemoveTrap implements kernel.Dataplane.
func (d *Dataplane) RemoveTrap(_ context.Context, prefix netip.Prefix) error {
	prefix = prefix.Masked()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if _, ok := d.traps[prefix]; !ok {
		return fmt.Errorf("xfrm: remove trap %s: no such trap", prefix)
	}
	if err := d.del(selector{Src: anyPrefix(prefix.Addr()), Dst: prefix}, dirOut); err != nil {
		return fmt.Errorf("xfrm: remove trap %s: %w", prefix, err)
	}
	delete(d.traps, prefix)
	d.log.Debug("trap removed", "prefix", prefix)
	return nil
}

// Acquires implements kernel.Dataplane.
func (d *Dataplane) Acquires() <-chan kernel.Acquire { return d.acquires }

// Expires implements kernel.Dataplane.
func (d *Dataplane) Expires() <-chan kernel.Expire { return d.expires }

// AllocSPI implements kernel.Dataplane. The reservation lapses after
// net.core.xfrm_acq_expires seconds (30 by default) with an ExpireSPI.
func (d *Dataplane) AllocSPI(_ context.Context, src, dst netip.Addr) (uint32, error) {
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("xfrm: allocate SPI for %s→%s: need two addresses of one family", src, dst)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	spi, err := d.ex.allocSPI(src, dst, d.opts.ReqIDBase, modeTransport)
	if err != nil {
		return 0, fmt.Errorf("xfrm: %w", err)
	}
	d.spis[spiKey{dst, spi}] = src
	d.log.Debug("SPI allocated", "peer", src, "spi", fmt.Sprintf("%#08x", spi))
	return spi, nil
}

func flowName(p kernel.SAPair) string {
	return fmt.Sprintf("%s %v→%v via %s", p.Mode, p.Local, p.Remote, p.Out.Dst)
}

func checkPair(p *kernel.SAPair) error {
	if p.In.SPI == 0 || p.Out.SPI == 0 {
		return fmt.Errorf("zero SPI (in %#08x, out %#08x)", p.In.SPI, p.Out.SPI)
	}
	for _, a := range []netip.Addr{p.In.Src, p.In.Dst, p.Out.Src, p.Out.Dst} {
		if !a.IsValid() {
			return errors.New("missing outer address")
		}
	}
	if p.In.Src != p.Out.Dst || p.In.Dst != p.Out.Src {
		return fmt.Errorf("inbound SA %s→%s is not the reverse of outbound %s→%s", p.In.Src, p.In.Dst, p.Out.Src, p.Out.Dst)
	}
	if len(p.Local) == 0 {
		p.Local = []netip.Prefix{hostPrefix(p.Out.Src)}
	}
	if len(p.Remote) == 0 {
		p.Remote = []netip.Prefix{hostPrefix(p.Out.Dst)}
	}
	if p.Mode == kernel.ModeTransport && p.Out.Src.Is4() != p.Remote[0].Addr().Is4() {
		return errors.New("transport mode with selectors of another family than the SAs")
	}
	return nil
}

// InstallSA implements kernel.Dataplane: the two SAs first (the inbound
// one completes an SPI from AllocSPI), then the policies; the kernel then
// sends the packets queued under the trap.
func (d *Dataplane) InstallSA(_ context.Context, p kernel.SAPair) error {
	if err := checkPair(&p); err != nil {
		return fmt.Errorf("xfrm: install SA pair to %s (in %#08x, out %#08x): %w", p.Out.Dst, p.In.SPI, p.Out.SPI, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	id := p.ID()
	if _, dup := d.pairs[id]; dup {
		return fmt.Errorf("xfrm: install SA pair to %s (in %#08x, out %#08x): already installed", id.Peer, id.InSPI, id.OutSPI)
	}
	name := flowName(p)
	fe := d.flows[name]
	newFlow := fe == nil
	if newFlow {
		reqid, err := d.allocReqid(p.ReqID)
		if err != nil {
			return fmt.Errorf("xfrm: install SA pair to %s: %w", id.Peer, err)
		}
		fe = &flowEntry{reqid: reqid}
	}
	mode := uint8(modeTransport)
	if p.Mode == kernel.ModeTunnel {
		mode = modeTunnel
	}
	replay := p.In.Replay
	if replay == 0 {
		replay = defaultReplay
	}
	in := state{Src: p.In.Src, Dst: p.In.Dst, SPI: p.In.SPI, Reqid: fe.reqid, Mode: mode, AEAD: p.In.AEAD,
		Key: p.In.Key, ESN: p.In.ESN, Replay: replay, Life: p.Lifetime}
	out := state{Src: p.Out.Src, Dst: p.Out.Dst, SPI: p.Out.SPI, Reqid: fe.reqid, Mode: mode, AEAD: p.Out.AEAD,
		Key: p.Out.Key, ESN: p.Out.ESN, Replay: replay, Life: p.Lifetime}
	if p.Encap != nil {
		out.Encap = &kernel.Encap{SrcPort: p.Encap.SrcPort, DstPort: p.Encap.DstPort}
		in.Encap = &kernel.Encap{SrcPort: p.Encap.DstPort, DstPort: p.Encap.SrcPort}
	}
	_, allocated := d.spis[spiKey{in.Dst, in.SPI}]
	if err := d.ex.putState(in, allocated); err != nil {
		return fmt.Errorf("xfrm: inbound of pair to %s: %w", id.Peer, err)
	}
	delete(d.spis, spiKey{in.Dst, in.SPI})
	// Deferring matters only for a rekey: without an older pair nothing
	// else carries the flow.
	defer_ := p.DeferOutbound && !newFlow && fe.pairs > 0
	if !defer_ {
		if err := d.ex.putState(out, false); err != nil {
			_ = d.ex.delState(in.Dst, in.SPI)
			return fmt.Errorf("xfrm: outbound of pair to %s: %w", id.Peer, err)
		}
	}
	if newFlow {
		pols, err := d.pairPolicies(p, mode, fe.reqid)
		if err == nil {
			for i, pol := range pols {
				if err = d.put(pol); err != nil {
					for _, done := range pols[:i] {
						_ = d.del(done.Sel, done.Dir)
					}
					break
				}
			}
		}
		if err != nil {
			_ = d.ex.delState(in.Dst, in.SPI)
			_ = d.ex.delState(out.Dst, out.SPI)
			return fmt.Errorf("xfrm: policies of pair to %s: %w", id.Peer, err)
		}
		fe.policies = pols
		d.flows[name] = fe
		d.reqids[fe.reqid] = true
	}
	fe.pairs++
	pe := &pairEntry{pair: p, flow: name}
	if defer_ {
		pe.deferredOut = &out
		d.watchers.Add(1)
		go d.watchInbound(id)
	}
	d.pairs[id] = pe
	d.bySPI[spiKey{in.Dst, in.SPI}] = id
	d.bySPI[spiKey{out.Dst, out.SPI}] = id
	d.log.Debug("SA pair installed", "peer", id.Peer, "in", fmt.Sprintf("%#08x", id.InSPI),
		"out", fmt.Sprintf("%#08x", id.OutSPI), "mode", p.Mode, "reqid", fe.reqid, "flow", name)
	return nil
}

// allocReqid picks the reqid of a new flow: the caller's when it lies in
// our band and is free, else the next free one.
func (d *Dataplane) allocReqid(want uint32) (uint32, error) {
	inUse := func(r uint32) bool { return d.reqids[r] }
	if want > d.opts.ReqIDBase && d.ourReqid(want) && !inUse(want) {
		return want, nil
	}
	for range ReqIDBand {
		r := d.nextReqid
		d.nextReqid++
		if !d.ourReqid(d.nextReqid) {
			d.nextReqid = d.opts.ReqIDBase + 1
		}
		if !inUse(r) {
			return r, nil
		}
	}
	return 0, errors.New("no free reqid in our band")
}

func (d *Dataplane) pairPolicies(p kernel.SAPair, mode uint8, reqid uint32) ([]policy, error) {
	outT := tmpl{Src: p.Out.Src, Dst: p.Out.Dst, Family: familyOf(p.Out.Dst), Mode: mode, Reqid: reqid}
	inT := tmpl{Src: p.In.Src, Dst: p.In.Dst, Family: familyOf(p.In.Dst), Mode: mode, Reqid: reqid}
	var pols []policy
	for _, l := range p.Local {
		for _, r := range p.Remote {
			if l.Addr().Is4() != r.Addr().Is4() {
				continue
			}
			l, r := l.Masked(), r.Masked()
			outSel := selector{Src: l, Dst: r}
			inSel := selector{Src: r, Dst: l}
			prio := priority(d.opts.PriorityBase, classSA, outSel)
			pols = append(pols,
				policy{Sel: outSel, Dir: dirOut, Priority: prio, Tmpl: &outT},
				policy{Sel: inSel, Dir: dirIn, Priority: prio, Tmpl: &inT})
			if mode == modeTunnel {
				pols = append(pols, policy{Sel: inSel, Dir: dirFwd, Priority: prio, Tmpl: &inT})
			}
		}
	}
	if len(pols) == 0 {
		return nil, fmt.Errorf("no pair of local %v and remote %v selectors of one family", p.Local, p.Remote)
	}
	return pols, nil
}

// DeleteSA implements kernel.Dataplane. SAs the kernel already removed
// (hard expiry) are not an error. The policies go with the last pair of
// the flow unless KeepPolicy is set.
func (d *Dataplane) DeleteSA(_ context.Context, id kernel.SAPairID, opts kernel.DeleteOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	return d.deletePair(id, opts.KeepPolicy)
}

func (d *Dataplane) deletePair(id kernel.SAPairID, keepPolicy bool) error {
	pe, ok := d.pairs[id]
	if !ok {
		return fmt.Errorf("xfrm: delete SA pair to %s (in %#08x, out %#08x): no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	p := pe.pair
	var errs []error
	for _, sa := range []kernel.SA{p.In, p.Out} {
		if err := d.ex.delState(sa.Dst, sa.SPI); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
		delete(d.bySPI, spiKey{sa.Dst, sa.SPI})
	}
	delete(d.pairs, id)
	fe := d.flows[pe.flow]
	fe.pairs--
	// The pair that carried the flow is gone: the rekeyed pairs of the
	// flow must send now.
	if pe.deferredOut == nil && !d.closed {
		for oid, other := range d.pairs {
			if other.flow == pe.flow && other.deferredOut != nil {
				if err := d.releaseOut(oid, other); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if fe.pairs == 0 && !keepPolicy {
		for _, pol := range fe.policies {
			if err := d.del(pol.Sel, pol.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		delete(d.flows, pe.flow)
		delete(d.reqids, fe.reqid)
	}
	d.log.Debug("SA pair deleted", "peer", id.Peer, "in", fmt.Sprintf("%#08x", id.InSPI), "out", fmt.Sprintf("%#08x", id.OutSPI))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xfrm: delete SA pair to %s: %w", id.Peer, err)
	}
	return nil
}

// SACounters implements kernel.Dataplane (kernel counters; last use from
// XFRMA_LASTUSED, which the kernel updates per packet).
func (d *Dataplane) SACounters(_ context.Context, id kernel.SAPairID) (kernel.Counters, error) {
	d.mu.Lock()
	pe, ok := d.pairs[id]
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return kernel.Counters{}, errors.New("xfrm: data plane is closed")
	}
	if !ok {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters of SA pair to %s (in %#08x, out %#08x): no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	in, err := d.ex.getState(pe.pair.In.Dst, pe.pair.In.SPI)
	if err != nil {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters: %w", err)
	}
	out, err := d.ex.getState(pe.pair.Out.Dst, pe.pair.Out.SPI)
	if errors.Is(err, unix.ESRCH) {
		d.mu.Lock()
		deferred := pe.deferredOut != nil
		d.mu.Unlock()
		if deferred {
			out, err = stateInfo{}, nil // not installed yet: nothing sent
		}
	}
	if err != nil {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters: %w", err)
	}
	c := kernel.Counters{InBytes: in.Bytes, InPackets: in.Packets, OutBytes: out.Bytes, OutPackets: out.Packets, LastUse: in.LastUsed}
	if out.LastUsed.After(c.LastUse) {
		c.LastUse = out.LastUsed
	}
	// The SA's own last use (XFRMA_LASTUSED) is kept only for IPv6
	// route optimisation, and curlft.use_time is the first use. The
	// kernel stamps a policy's use_time on every lookup (inbound: every
	// packet), so the flow's policies tell the last use (as strongSwan does).
	d.mu.Lock()
	var pols []policy
	if fe := d.flows[pe.flow]; fe != nil {
		pols = append(pols, fe.policies...)
	}
	d.mu.Unlock()
	for _, p := range pols {
		got, err := d.ex.getPolicy(p.Sel, p.Dir)
		if err != nil {
			return c, fmt.Errorf("xfrm: last use: %w", err)
		}
		if got.UseTime.After(c.LastUse) {
			c.LastUse = got.UseTime
		}
	}
	return c, nil
}

func flowSel(f kernel.Flow) (selector, error) {
	if !f.Src.IsValid() || !f.Dst.IsValid() || f.Src.Is4() != f.Dst.Is4() {
		return selector{}, fmt.Errorf("flow %s→%s: need two addresses of one family", f.Src, f.Dst)
	}
	return selector{Src: hostPrefix(f.Src), Dst: hostPrefix(f.Dst), Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort}, nil
}

// SetShunt implements kernel.Dataplane with an outbound policy for the flow
// whose lifetime the kernel keeps (whole seconds, rounded up): pass is
// allow, drop is block, hold is a trap for the flow (packets wait, no new
// acquire). When it ends the kernel sends POLEXPIRE and we send
// ExpireShunt; the less specific trap is back by itself. Shunts outlive a
// crashed daemon by at most their lifetime.
func (d *Dataplane) SetShunt(_ context.Context, s kernel.Shunt) error {
	sel, err := flowSel(s.Flow)
	if err != nil {
		return fmt.Errorf("xfrm: %s shunt: %w", s.Kind, err)
	}
	if s.Lifetime <= 0 {
		return fmt.Errorf("xfrm: %s shunt for %s: lifetime %v must be positive", s.Kind, sel, s.Lifetime)
	}
	pol := policy{Sel: sel, Dir: dirOut, Priority: priority(d.opts.PriorityBase, classShunt, sel), HardAdd: s.Lifetime}
	switch s.Kind {
	case kernel.ShuntPass:
	case kernel.ShuntDrop:
		pol.Action = actionBlock
	case kernel.ShuntHold:
		pol.Tmpl = &tmpl{Family: sel.family(), Mode: modeTransport, Reqid: d.opts.ReqIDBase}
	default:
		return fmt.Errorf("xfrm: shunt for %s: unknown kind %d", sel, s.Kind)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	if err := d.put(pol); err != nil {
		return fmt.Errorf("xfrm: %s shunt: %w", s.Kind, err)
	}
	s.Expires = d.now().Add(time.Duration(seconds(s.Lifetime)) * time.Second)
	k := polKey{sel, dirOut}
	d.shunts[s.Flow] = shuntEntry{shunt: s, key: k}
	d.shuntKeys[k] = s.Flow
	d.log.Debug("shunt set", "kind", s.Kind, "flow", sel, "lifetime", s.Lifetime, "reason", s.Reason)
	return nil
}

// RemoveShunt implements kernel.Dataplane.
func (d *Dataplane) RemoveShunt(_ context.Context, f kernel.Flow) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	se, ok := d.shunts[f]
	if !ok {
		return fmt.Errorf("xfrm: remove shunt %s→%s: no such shunt", f.Src, f.Dst)
	}
	delete(d.shunts, f)
	delete(d.shuntKeys, se.key)
	if err := d.del(se.key.Sel, se.key.Dir); err != nil {
		return fmt.Errorf("xfrm: remove %s shunt: %w", se.shunt.Kind, err)
	}
	return nil
}

// Shunts implements kernel.Dataplane.
func (d *Dataplane) Shunts(context.Context) ([]kernel.Shunt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.Shunt, 0, len(d.shunts))
	for _, se := range d.shunts {
		out = append(out, se.shunt)
	}
	return out, nil
}

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

// deferPoll is how often a deferred pair's inbound SA is checked for the
// peer's first packet.
const deferPoll = 50 * time.Millisecond

// watchInbound installs a deferred outbound SA once the peer's first packet
// arrives on the pair's inbound SA.
func (d *Dataplane) watchInbound(id kernel.SAPairID) {
	defer d.watchers.Done()
	t := time.NewTicker(deferPoll)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		pe, ok := d.pairs[id]
		if !ok || pe.deferredOut == nil {
			d.mu.Unlock()
			return
		}
		in := pe.pair.In
		d.mu.Unlock()
		si, err := d.ex.getState(in.Dst, in.SPI)
		if err != nil || si.Packets == 0 {
			continue
		}
		d.mu.Lock()
		if pe, ok := d.pairs[id]; ok && pe.deferredOut != nil {
			if err := d.releaseOut(id, pe); err != nil {
				d.log.Warn("deferred outbound SA", "peer", id.Peer, "err", err)
			}
		}
		d.mu.Unlock()
		return
	}
}

// releaseOut installs a deferred outbound SA; d.mu is held.
func (d *Dataplane) releaseOut(id kernel.SAPairID, pe *pairEntry) error {
	out := *pe.deferredOut
	pe.deferredOut = nil
	if err := d.ex.putState(out, false); err != nil {
		return fmt.Errorf("xfrm: deferred outbound of pair to %s: %w", id.Peer, err)
	}
	d.log.Debug("deferred outbound SA installed", "peer", id.Peer, "out", fmt.Sprintf("%#08x", id.OutSPI))
	return nil
}
