package ike

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// negotiateChild answers a request for a CHILD SA (in IKE_AUTH or
// CREATE_CHILD_SA) as responder: choose the ESP proposal, do the PFS
// exchange, ask the policy about the selectors, allocate our SPI, derive
// the keys and install the SA. It returns the payloads for the response:
// either [N(USE_TRANSPORT_MODE)] SA [Nr] [KEr] TSi TSr, or one error
// notify. nr, when set, is put after SA (CREATE_CHILD_SA). old is the SA
// being rekeyed, if any. A request without SA and TS payloads (a
// childless IKE_AUTH) yields nothing. pol must not choose additional key
// exchanges (prepareChild and completeChild run those).
func (sa *ikeSA) negotiateChild(m *wire.Message, pol Policy, old *childSA, ni, nr []byte, nonceR []byte) (*childSA, []wire.Payload, error) {
	p, ps, err := sa.prepareChild(m, pol, old, nonceR)
	if p == nil {
		return nil, ps, err
	}
	if err := sa.completeChild(p, ni, nr); err != nil {
		return nil, []wire.Payload{&wire.Notify{NotifyType: notifyFor(err, wire.NotifyTSUnacceptable)}}, err
	}
	return p.c, p.payloads, nil
}

// preparedChild is a CHILD SA we, the responder, agreed to and allocated
// an SPI for, not yet keyed or installed: CREATE_CHILD_SA's additional key
// exchanges (IKE_FOLLOWUP_KE) may still have to run.
type preparedChild struct {
	c        *childSA // larval, in sa.children
	sel      *Selection
	gir      []byte         // the shared secret of the KE payloads, nil without PFS
	payloads []wire.Payload // the response's
}

// prepareChild is negotiateChild up to the keys: the proposal, the PFS
// exchange, the policy's decision and our SPI. It returns nil and the
// error notify when the request is refused.
func (sa *ikeSA) prepareChild(m *wire.Message, pol Policy, old *childSA, nonceR []byte) (*preparedChild, []wire.Payload, error) {
	e := sa.e
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	tsi, _ := m.Get(wire.PayloadTSi).(*wire.TSPayload)
	tsr, _ := m.Get(wire.PayloadTSr).(*wire.TSPayload)
	if sap == nil && tsi == nil && tsr == nil && m.Exchange == wire.IKEAuth {
		return nil, nil, nil
	}
	refuse := func(t wire.NotifyType, err error) (*preparedChild, []wire.Payload, error) {
		return nil, []wire.Payload{&wire.Notify{NotifyType: t}}, err
	}
	if sap == nil || tsi == nil || tsr == nil {
		return refuse(wire.NotifyInvalidSyntax, fmt.Errorf("ike: CHILD SA request without %s", missing(sap == nil, "SA", tsi == nil, "TSi", tsr == nil, "TSr")))
	}
	sel, err := pol.Select(sap.Proposals)
	if err != nil {
		return refuse(wire.NotifyNoProposalChosen, err)
	}
	var gir []byte
	var ourKE *wire.KE
	if sel.DH != DHNone {
		ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
		if ke == nil || ke.Group != sel.DH {
			return nil, []wire.Payload{wire.InvalidKENotify(sel.DH)}, fmt.Errorf("ike: CREATE_CHILD_SA: want KE for %v", sel.DH)
		}
		ours, secret, err := RespondKeyExchange(sel.DH, ke.Data, e.cfg.Rand)
		switch {
		case errors.Is(err, ErrInvalidKE):
			return refuse(wire.NotifyInvalidSyntax, err)
		case err != nil:
			return refuse(wire.NotifyNoProposalChosen, err)
		}
		gir, ourKE = secret, &wire.KE{Group: sel.DH, Data: ours}
	}
	// An initiator we leased addresses to gets them as its TSi.
	tsiSel, err := sa.narrowToLease(tsi.Selectors)
	if err != nil {
		return refuse(wire.NotifyTSUnacceptable, err)
	}
	ctx, cancel := sa.callCtx()
	defer cancel()
	transport := m.Notify(wire.NotifyUseTransportMode) != nil
	var dec ChildDecision
	if e.cfg.Policy != nil {
		dec, err = e.cfg.Policy.Child(ctx, ChildRequest{
			PeerID: sa.peerID, Auth: sa.peerAuth, Remote: sa.remote.Addr(), Local: sa.local.Addr(),
			TSi: tsiSel, TSr: tsr.Selectors, Transport: transport, Rekey: old != nil,
			Leased: sa.leasedIPs(),
		})
	} else {
		dec, err = rekeyOnly(old, tsiSel, tsr.Selectors)
	}
	if err != nil {
		return refuse(notifyFor(err, wire.NotifyTSUnacceptable), fmt.Errorf("ike: policy refuses CHILD SA %v === %v: %w", tsiSel, tsr.Selectors, err))
	}
	if len(dec.TSi) == 0 || len(dec.TSr) == 0 || !tsSubset(dec.TSi, tsiSel) || !tsSubset(dec.TSr, tsr.Selectors) {
		return refuse(wire.NotifyTSUnacceptable, fmt.Errorf("ike: policy narrowed to %v === %v, not within the proposed %v === %v", dec.TSi, dec.TSr, tsiSel, tsr.Selectors))
	}
	if !dec.Mode.Valid() {
		return refuse(wire.NotifyTSUnacceptable, fmt.Errorf("ike: policy accepted CHILD SA %v === %v without choosing a mode (ChildDecision.Mode is %v)", tsi.Selectors, tsr.Selectors, dec.Mode))
	}
	mode := dec.Mode
	if !transport {
		mode = ModeTunnel
	}
	spi, err := e.cfg.Installer.AllocSPI(ctx, sa.remote.Addr(), sa.local.Addr())
	if err != nil {
		return refuse(wire.NotifyNoAdditionalSAs, fmt.Errorf("ike: allocate SPI: %w", err))
	}
	c := &childSA{childCore: childCore{
		SPIIn: spi, SPIOut: spiValue(sel.PeerSPI), Mode: mode,
		TSLocal: dec.TSr, TSRemote: dec.TSi,
		Encr: sel.Encr, Integ: sel.Integ, ESN: sel.ESN == ESNOn,
	}, pfs: sel.DH, state: childLarval}
	if old != nil {
		c.Replaces = old.SPIIn
	}
	sa.addChild(c)
	ps := make([]wire.Payload, 0, 6) // every payload below: one allocation, not three
	if mode == ModeTransport {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyUseTransportMode})
	}
	ps = append(ps, &wire.SA{Proposals: []Proposal{sel.Proposal(spiBytes(spi))}})
	if nonceR != nil {
		ps = append(ps, &wire.Nonce{Data: nonceR})
	}
	if ourKE != nil {
		ps = append(ps, ourKE)
	}
	ps = append(ps, &wire.TSPayload{Selectors: dec.TSi}, &wire.TSPayload{Responder: true, Selectors: dec.TSr})
	return &preparedChild{c: c, sel: sel, gir: gir, payloads: ps}, nil, nil
}

// completeChild derives the keys of a prepared CHILD SA, add being the
// shared secrets of its additional key exchanges (IKE_FOLLOWUP_KE), and
// installs it. On failure the CHILD SA is gone, its SPI given back; the
// error wraps the notify to answer.
func (sa *ikeSA) completeChild(p *preparedChild, ni, nr []byte, add ...[]byte) error {
	c := p.c
	keys, err := p.sel.ChildSuite().DeriveChildKeys(sa.suite.PRF, sa.skd, p.gir, ni, nr, add...)
	if err != nil {
		sa.dropChild(c, err)
		return fmt.Errorf("ike: CHILD SA keys: %w: %w", err, &NotifyError{Type: wire.NotifyNoProposalChosen})
	}
	if len(add) > 0 {
		c.addKE = p.sel.additionalExchanges()
	}
	if err := sa.installChild(c, childKeys{encrIn: keys.EncrI, integIn: keys.IntegI, encrOut: keys.EncrR, integOut: keys.IntegR}); err != nil {
		sa.dropChild(c, err)
		return err
	}
	return nil
}

// acceptChild checks the responder's answer for CHILD SA c that we
// proposed, derives its keys and installs it.
//
// add holds the shared secrets of the additional key exchanges run in
// IKE_FOLLOWUP_KE after m, if any (exchange_followup.go).
func (sa *ikeSA) acceptChild(c *childSA, m *wire.Message, pol Policy, tsi, tsr []TrafficSelector, mode Mode, gir, ni, nr []byte, add ...[]byte) (*Selection, error) {
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	rtsi, _ := m.Get(wire.PayloadTSi).(*wire.TSPayload)
	rtsr, _ := m.Get(wire.PayloadTSr).(*wire.TSPayload)
	if sap == nil || rtsi == nil || rtsr == nil {
		return nil, fmt.Errorf("ike: %v response from %v has no CHILD SA (missing %s)", m.Exchange, sa.remote, missing(sap == nil, "SA", rtsi == nil, "TSi", rtsr == nil, "TSr"))
	}
	if len(sap.Proposals) != 1 {
		return nil, fmt.Errorf("ike: %v response carries %d ESP proposals, want 1", m.Exchange, len(sap.Proposals))
	}
	sel, err := pol.Select(sap.Proposals)
	if err != nil {
		return nil, fmt.Errorf("ike: peer chose an ESP proposal we did not offer: %w", err)
	}
	if !tsSubset(rtsi.Selectors, tsi) || !tsSubset(rtsr.Selectors, tsr) {
		return nil, fmt.Errorf("ike: peer narrowed the selectors to %v === %v, outside our %v === %v: %w", rtsi.Selectors, rtsr.Selectors, tsi, tsr,
			&NotifyError{Type: wire.NotifyTSUnacceptable})
	}
	got := ModeTunnel
	if m.Notify(wire.NotifyUseTransportMode) != nil {
		if mode != ModeTransport {
			return nil, errors.New("ike: peer answered USE_TRANSPORT_MODE we did not ask for")
		}
		got = ModeTransport
	}
	keys, err := sel.ChildSuite().DeriveChildKeys(sa.suite.PRF, sa.skd, gir, ni, nr, add...)
	if err != nil {
		return nil, err
	}
	if len(add) > 0 {
		c.addKE = sel.additionalExchanges()
	}
	c.SPIOut = spiValue(sel.PeerSPI)
	c.Mode, c.TSLocal, c.TSRemote = got, rtsi.Selectors, rtsr.Selectors
	c.Encr, c.Integ, c.ESN, c.pfs = sel.Encr, sel.Integ, sel.ESN == ESNOn, sel.DH
	if err := sa.installChild(c, childKeys{encrOut: keys.EncrI, integOut: keys.IntegI, encrIn: keys.EncrR, integIn: keys.IntegR}); err != nil {
		return nil, err
	}
	return sel, nil
}

// installChild completes c from the IKE SA and puts it in the data plane
// with keys k.
func (sa *ikeSA) installChild(c *childSA, k childKeys) error {
	e := sa.e
	c.Local, c.Remote = sa.local.Addr(), sa.remote.Addr()
	c.Encap = sa.natt && (sa.behindNAT || sa.peerBehindNAT || sa.forceEncap)
	if c.Encap {
		c.EncapLocal, c.EncapRemote = sa.local.Port(), sa.remote.Port()
	}
	// The data plane's soft limit is the engine's own rekey time, fuzz
	// included: a soft expiry it raises (oe rekeys on it) must not bring
	// back the wave the fuzz spreads.
	c.HardLifetime = e.cfg.ChildLifetime
	c.SoftLifetime = e.cfg.ChildLifetime - e.childRekeyMargin(c.Initiator)
	c.PeerID, c.PeerAuth = sa.peerID, sa.peerAuth
	c.IKESPIi, c.IKESPIr = sa.spii, sa.spir
	if sa.vip != nil && !sa.vip.leased {
		c.VirtualIPs = sa.virtualIPs()
	}
	ctx, cancel := sa.callCtx()
	defer cancel()
	// The data plane keeps the keys (it may keep these slices, so they
	// are not zeroed); the engine never needs them again: Delete
	// identifies the SA by SPIs and addresses, and c has no room for them.
	if err := e.cfg.Installer.Install(ctx, c.public(k)); err != nil {
		return fmt.Errorf("ike: install CHILD SA %08x/%08x with %v: %w", c.SPIIn, c.SPIOut, sa.remote, err)
	}
	sa.setChildState(c, childInstalled)
	e.stats.add(&e.stats.childUp)
	sa.armChildTimers(c)
	if f := e.cfg.OnChildUp; f != nil {
		info := c.info(sa)
		sa.post(func() { f(info) })
	}
	return nil
}

// rekeyMargin is how long before the end of lifetime we rekey.
func (e *Engine) rekeyMargin(lifetime time.Duration) time.Duration {
	if e.cfg.RekeyMargin > 0 && e.cfg.RekeyMargin < lifetime {
		return e.cfg.RekeyMargin
	}
	return lifetime / 10
}

// childRekeyMargin draws how long before the end of its lifetime one
// CHILD SA rekeys: the margin, halved on the responder (let the
// initiator go first: fewer collisions), plus the fuzz.
func (e *Engine) childRekeyMargin(initiator bool) time.Duration {
	margin := e.rekeyMargin(e.cfg.ChildLifetime)
	if !initiator {
		margin /= 2
	}
	return margin + e.rekeyFuzz(e.cfg.ChildLifetime, margin)
}

// rekeyFuzz draws how much earlier than its margin one SA rekeys:
// uniformly up to RekeyFuzz times the margin, and never more than half
// of the lifetime left before the margin.
func (e *Engine) rekeyFuzz(lifetime, margin time.Duration) time.Duration {
	if e.cfg.RekeyFuzz <= 0 {
		return 0
	}
	bound := min(time.Duration(e.cfg.RekeyFuzz*float64(margin)), (lifetime-margin)/2)
	if bound <= 0 {
		return 0
	}
	return mrand.N(bound)
}

// tsSubset reports whether every selector of narrow lies within one of
// wide (RFC 7296 §2.9: the responder may only narrow).
func tsSubset(narrow, wide []TrafficSelector) bool {
	for _, n := range narrow {
		ok := false
		for _, w := range wide {
			if tsWithin(n, w) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func tsWithin(n, w TrafficSelector) bool {
	if n.Type != w.Type || (n.Type != TSIPv4AddrRange && n.Type != TSIPv6AddrRange) {
		return false
	}
	if w.IPProtocol != 0 && n.IPProtocol != w.IPProtocol {
		return false
	}
	if n.StartPort < w.StartPort || n.EndPort > w.EndPort {
		return false
	}
	return n.Start.Compare(w.Start) >= 0 && n.End.Compare(w.End) <= 0 && n.Start.Compare(n.End) <= 0
}

// rekeyOnly is the CHILD SA policy of an engine without a PeerPolicy (an
// initiator only, like the probe): the peer may rekey a CHILD SA within
// its selectors, nothing else.
func rekeyOnly(old *childSA, tsi, tsr []TrafficSelector) (ChildDecision, error) {
	if old == nil {
		return ChildDecision{}, fmt.Errorf("no policy for new CHILD SAs: %w", &NotifyError{Type: wire.NotifyNoAdditionalSAs})
	}
	if !tsSubset(old.TSRemote, tsi) || !tsSubset(old.TSLocal, tsr) {
		return ChildDecision{}, fmt.Errorf("rekey of %08x proposes %v === %v, the SA has %v === %v", old.SPIIn, tsi, tsr, old.TSRemote, old.TSLocal)
	}
	return ChildDecision{TSi: old.TSRemote, TSr: old.TSLocal, Mode: old.Mode}, nil
}
