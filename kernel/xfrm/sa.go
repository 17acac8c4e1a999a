package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/kernel"
	"golang.org/x/sys/unix"
)

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
	// cats are the flow's client address translations (cat.go); their
	// policies are among policies.
	cats map[CAT]bool
	// deferred are the flow's pairs whose outbound SA waits
	// (pairEntry.deferredOut): deleting a pair releases its flow's
	// without a walk over every pair, which made deleting the N-th of N
	// pairs cost O(N).
	deferred map[kernel.SAPairID]*pairEntry
}

type pairEntry struct {
	pair kernel.SAPair
	flow string
	// deferredOut is the outbound SA of a responder's rekeyed pair, held
	// back until the peer is heard on the pair's inbound SA (or the pair it
	// replaces goes): the kernel sends on the newest SA of a reqid at once.
	deferredOut *state
}

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
	if !p.Mode.Valid() {
		return fmt.Errorf("mode is %v, want transport or tunnel", p.Mode)
	}
	if p.CAT != nil {
		if err := p.CAT.Check(p.Mode, p.Local); err != nil {
			return err
		}
		if len(p.Remote) != 1 || !p.Remote[0].IsSingleIP() {
			return fmt.Errorf("CAT %s → %s: the remote selectors %v are not one peer address", p.CAT.Host, p.CAT.Leased, p.Remote)
		}
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
func (d *Dataplane) InstallSA(ctx context.Context, p kernel.SAPair) error {
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
		if fe.deferred == nil {
			fe.deferred = make(map[kernel.SAPairID]*pairEntry)
		}
		fe.deferred[id] = pe
		d.watchers.Add(1)
		go d.watchInbound(id)
	}
	d.pairs[id] = pe
	d.bySPI[spiKey{in.Dst, in.SPI}] = id
	d.bySPI[spiKey{out.Dst, out.SPI}] = id
	if c, ok := pairCAT(p); ok && !fe.cats[c] {
		if err := d.addCAT(ctx, id, c); err != nil {
			if derr := d.deletePair(id, false); derr != nil {
				err = errors.Join(err, derr)
			}
			return fmt.Errorf("xfrm: install SA pair to %s (in %#08x, out %#08x): %w", id.Peer, id.InSPI, id.OutSPI, err)
		}
	}
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
	delete(fe.deferred, id)
	// The pair that carried the flow is gone: the rekeyed pairs of the
	// flow must send now.
	if pe.deferredOut == nil && !d.closed {
		for oid, other := range fe.deferred {
			if err := d.releaseOut(oid, other); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if fe.pairs == 0 && !keepPolicy {
		if err := d.removeFlowCATs(fe); err != nil {
			errs = append(errs, err)
		}
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
	if fe := d.flows[pe.flow]; fe != nil {
		delete(fe.deferred, id)
	}
	if err := d.ex.putState(out, false); err != nil {
		return fmt.Errorf("xfrm: deferred outbound of pair to %s: %w", id.Peer, err)
	}
	d.log.Debug("deferred outbound SA installed", "peer", id.Peer, "out", fmt.Sprintf("%#08x", id.OutSPI))
	return nil
}
