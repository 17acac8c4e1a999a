package ike

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// childRekey is our pending rekey of a CHILD SA, and what we learnt of a
// colliding rekey by the peer (RFC 7296 §2.8.1).
type childRekey struct {
	// peerChild is the SA we created answering the peer's rekey of the
	// same SA while ours was outstanding; peerNi/peerNr its nonces.
	peerChild      *childSA
	peerNi, peerNr []byte
}

// ikeRekey is the rekey state of an IKE SA being replaced.
type ikeRekey struct {
	ours bool // our CREATE_CHILD_SA rekeying it is outstanding
	// peerNew is the SA we created answering the peer's rekey;
	// peerNi/peerNr its nonces.
	peerNew        *ikeSA
	peerNi, peerNr []byte
}

// minNonce returns the smaller of two nonces (RFC 7296 §2.8.1 compares
// nonces as octet strings).
func minNonce(a, b []byte) []byte {
	if bytes.Compare(a, b) < 0 {
		return a
	}
	return b
}

// handleCreateChild answers CREATE_CHILD_SA: a new or rekeyed CHILD SA,
// or an IKE SA rekey.
func (sa *ikeSA) handleCreateChild(m *wire.Message) {
	e := sa.e
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || nonce == nil || len(sap.Proposals) == 0 {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}})
		return
	}
	nr, err := e.randomBytes(32)
	if err != nil {
		return
	}
	// A peer that starts another CREATE_CHILD_SA has given up the one
	// whose additional key exchanges were under way.
	sa.dropFollowup(errors.New("ike: the peer started another CREATE_CHILD_SA"))
	if sap.Proposals[0].Protocol == ProtocolIKE {
		sa.handleIKERekey(m, sap, nonce.Data, nr)
		return
	}
	var old *childSA
	if n := m.Notify(wire.NotifyRekeySA); n != nil {
		old = sa.childByOut(spiValue(n.SPI))
		if old == nil {
			sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyChildSANotFound, Protocol: ProtocolESP, SPI: n.SPI}})
			return
		}
		if old.state != childInstalled {
			// Being deleted or already replaced (RFC 7296 §2.25.1).
			sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}})
			return
		}
	}
	pol := e.cfg.ESP
	if len(pol.DH) == 0 {
		// Accept PFS in CREATE_CHILD_SA with any group we accept for IKE.
		pol.DH = append([]DHGroup{DHNone}, e.cfg.IKE.DH...)
	}
	if ke, ok := m.Get(wire.PayloadKE).(*wire.KE); ok {
		pol = pol.PreferDH(ke.Group) // no INVALID_KE round trip for a group we take
	}
	if !pol.hasAddKELists() {
		pol.AddKE = e.cfg.IKE.childAddKE()
	}
	p, ps, err := sa.prepareChild(m, pol, old, nr)
	if p == nil {
		e.log.Info("ike: CREATE_CHILD_SA refused", "remote", sa.remote, "err", err)
		sa.respond(m, ps)
		return
	}
	ni := nonce.Data
	if adds := p.sel.additionalExchanges(); len(adds) > 0 {
		what := "CHILD SA"
		if old != nil {
			what = "CHILD SA rekey"
		}
		link, err := sa.startFollowupResp(&followupResp{what: what, methods: adds,
			complete: func(add [][]byte) (func(), error) {
				if err := sa.completeChild(p, ni, nr, add...); err != nil {
					return nil, err
				}
				return func() { sa.childRekeyedByPeer(old, p.c, ni, nr) }, nil
			},
			abort: func(err error) { sa.dropChild(p.c, err) },
		})
		if err != nil {
			sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}})
			return
		}
		sa.respond(m, append(p.payloads, link))
		return
	}
	if err := sa.completeChild(p, ni, nr); err != nil {
		e.log.Info("ike: CREATE_CHILD_SA refused", "remote", sa.remote, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: notifyFor(err, wire.NotifyTSUnacceptable)}})
		return
	}
	sa.respond(m, p.payloads)
	sa.childRekeyedByPeer(old, p.c, ni, nr)
}

// childRekeyedByPeer retires old (when set), which the peer's CREATE_CHILD_SA
// replaced with c, or records c for the nonce rule when our own rekey of
// old is outstanding. When additional key exchanges ran, old may be gone
// by now (our own rekey of it finished first): c then simply stays.
func (sa *ikeSA) childRekeyedByPeer(old, c *childSA, ni, nr []byte) {
	if old == nil {
		return
	}
	if old.rekeying != nil {
		// Simultaneous rekey: decide when our own exchange completes.
		old.rekeying.peerChild, old.rekeying.peerNi, old.rekeying.peerNr = c, ni, nr
		return
	}
	if old.state != childInstalled {
		return
	}
	sa.setChildState(old, childRekeyed)
	old.replacedBy = c.SPIIn
	old.stopTimers()
}

func (e *Engine) rekeyChild(ctx context.Context, spiIn uint32, pfs DHGroup) error {
	sa := e.findChild(spiIn)
	if sa == nil {
		return fmt.Errorf("ike: rekey: no CHILD SA with inbound SPI %08x", spiIn)
	}
	done := make(chan error, 1)
	sa.lock()
	err := sa.rekeyChildLocked(spiIn, pfs, done)
	sa.unlock()
	if err != nil {
		return err
	}
	return wait(ctx, done)
}

func (sa *ikeSA) rekeyChildLocked(spiIn uint32, pfs DHGroup, done chan error) error {
	return sa.rekeyChildTry(spiIn, pfs, done, rekeyTries{})
}

// rekeyTries says which retries a rekey has had: after INVALID_KE_PAYLOAD
// with the group asked for, and without additional key exchanges after a
// NO_PROPOSAL_CHOSEN (rekeyOffer).
type rekeyTries struct {
	invalidKE, classical bool
}

// acceptsGroup reports whether g is one of our IKE DH groups (the groups
// we also accept for PFS).
func (e *Engine) acceptsGroup(g DHGroup) bool {
	for _, x := range e.cfg.IKE.DH {
		if x == g && g != DHNone {
			return true
		}
	}
	return false
}

// invalidKERetry returns the group an INVALID_KE_PAYLOAD answer asks for
// when a retry with it makes sense.
func (e *Engine) invalidKERetry(m *wire.Message, sent DHGroup, retried bool) (DHGroup, bool) {
	n := m.Notify(wire.NotifyInvalidKEPayload)
	if n == nil || retried {
		return 0, false
	}
	g, ok := n.InvalidKEGroup()
	return g, ok && g != sent && e.acceptsGroup(g)
}

func (sa *ikeSA) rekeyChildTry(spiIn uint32, pfs DHGroup, done chan error, tries rekeyTries) error {
	e := sa.e
	old := sa.childByIn(spiIn)
	if old == nil || old.state != childInstalled || sa.state != stEstablished {
		return fmt.Errorf("ike: rekey: CHILD SA %08x is not installed on an established IKE SA", spiIn)
	}
	if old.rekeying != nil {
		return fmt.Errorf("ike: rekey: CHILD SA %08x is already being rekeyed", spiIn)
	}
	ctx, cancel := e.calls.get() // a rekey: the engine's own work
	defer cancel()
	spi, err := e.cfg.Installer.AllocSPI(ctx, sa.remote.Addr(), sa.local.Addr())
	if err != nil {
		return fmt.Errorf("ike: rekey: allocate SPI: %w", err)
	}
	ni, err := e.randomBytes(32)
	if err != nil {
		return err
	}
	pol := rekeyOffer(e.cfg.ESP, tries.classical)
	pol.DH = nil
	var dh KeyExchange
	if pfs != DHNone {
		// Offer the other groups too: a peer that wants one of them
		// answers INVALID_KE_PAYLOAD and we retry with it.
		pol.DH = append([]DHGroup{pfs}, e.cfg.IKE.DH...)
		if dh, err = StartKeyExchange(pfs, e.cfg.Rand); err != nil {
			return err
		}
	} else {
		// Additional key exchanges go with a KE of their own (PFS).
		pol = pol.withoutAddKE()
	}
	c := &childSA{childCore: childCore{SPIIn: spi, Initiator: true, Mode: old.Mode, Replaces: old.SPIIn}, state: childLarval}
	sa.addChild(c)
	old.rekeying = &childRekey{}
	ps := []wire.Payload{&wire.Notify{Protocol: ProtocolESP, SPI: spiBytes(old.SPIIn), NotifyType: wire.NotifyRekeySA}}
	if old.Mode == ModeTransport {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyUseTransportMode})
	}
	ps = append(ps, &wire.SA{Proposals: pol.Proposals(spiBytes(spi), pfs)}, &wire.Nonce{Data: ni})
	if dh != nil {
		ps = append(ps, &wire.KE{Group: pfs, Data: dh.Public()})
	}
	ps = append(ps, &wire.TSPayload{Selectors: old.TSLocal}, &wire.TSPayload{Responder: true, Selectors: old.TSRemote})
	finish := func(err error) {
		old.rekeying = nil
		if done != nil {
			done <- err
		}
	}
	fail := func(err error) {
		sa.dropChild(c, err)
		finish(err)
	}
	sa.enqueue(&request{exch: wire.CreateChildSA, payloads: ps,
		onFail: fail,
		onResponse: func(m *wire.Message) {
			retry := tries
			g, invalidKE := e.invalidKERetry(m, pfs, tries.invalidKE)
			if invalidKE {
				retry.invalidKE = true
			} else if fallBackClassical(m, pol, old.addKE, tries.classical) {
				g, retry.classical = pfs, true
				e.log.Info("ike: CHILD SA rekey: peer refused the additional key exchanges, retrying without", "remote", sa.remote, "spi", old.SPIIn)
			}
			if retry != tries {
				sa.dropChild(c, nil)
				old.rekeying = nil
				if err := sa.rekeyChildTry(old.SPIIn, g, done, retry); err == nil {
					return
				}
			}
			gir, sel, err := sa.childRekeyResponse(m, pol, dh)
			if err != nil {
				fail(err)
				return
			}
			complete := func(add [][]byte) {
				err := sa.completeChildRekey(old, c, m, pol, gir, ni, add...)
				if err != nil {
					sa.dropChild(c, err)
				}
				finish(err)
			}
			if adds := sel.additionalExchanges(); len(adds) > 0 {
				sa.runFollowups("CHILD SA rekey", adds, m, complete, fail)
				return
			}
			complete(nil)
		}})
	return nil
}

// childRekeyResponse checks the CREATE_CHILD_SA response to our rekey of
// a CHILD SA as far as the key exchanges go: no error, a Nonce, the KE of
// our PFS group, a proposal we offered. It returns the shared secret and
// the selection, whose additional exchanges are to run next.
func (sa *ikeSA) childRekeyResponse(m *wire.Message, pol Policy, dh KeyExchange) ([]byte, *Selection, error) {
	if err := errorNotify(m); err != nil {
		return nil, nil, err
	}
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	if nonce == nil || sap == nil || len(sap.Proposals) != 1 {
		return nil, nil, fmt.Errorf("ike: CREATE_CHILD_SA response from %v without Nonce or one SA proposal", sa.remote)
	}
	sel, err := pol.Select(sap.Proposals)
	if err != nil {
		return nil, nil, fmt.Errorf("ike: peer chose an ESP proposal we did not offer: %w", err)
	}
	var gir []byte
	if dh != nil {
		ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
		if ke == nil || ke.Group != dh.Group() {
			return nil, nil, fmt.Errorf("ike: CREATE_CHILD_SA response without KE for %v", dh.Group())
		}
		if gir, err = dh.SharedSecret(ke.Data); err != nil {
			return nil, nil, err
		}
	}
	return gir, sel, nil
}

// completeChildRekey installs the new CHILD SA from the response and
// retires the old one, resolving a simultaneous rekey by the nonce rule.
// add holds the secrets of the additional key exchanges that ran after
// the response.
func (sa *ikeSA) completeChildRekey(old, c *childSA, m *wire.Message, pol Policy, gir, ni []byte, add ...[]byte) error {
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	if _, err := sa.acceptChild(c, m, pol, old.TSLocal, old.TSRemote, old.Mode, gir, ni, nonce.Data, add...); err != nil {
		return err
	}
	r := old.rekeying
	if r != nil && r.peerChild != nil {
		// Both rekeyed old. The new SA from the exchange with the lowest
		// nonce is redundant; whoever started that exchange deletes it,
		// and the other side deletes old.
		ours := minNonce(ni, nonce.Data)
		theirs := minNonce(r.peerNi, r.peerNr)
		if bytes.Compare(ours, theirs) < 0 {
			sa.e.log.Debug("ike: rekey collision lost", "redundant", c.SPIIn, "kept", r.peerChild.SPIIn)
			sa.setChildState(old, childRekeyed)
			old.stopTimers()
			sa.deleteChildLocked(c, nil)
			return nil
		}
		sa.e.log.Debug("ike: rekey collision won", "kept", c.SPIIn, "redundant", r.peerChild.SPIIn)
	}
	if old.state == childDead {
		// Gone while the additional exchanges ran (the peer deleted it).
		return nil
	}
	old.replacedBy = c.SPIIn
	sa.deleteChildLocked(old, nil)
	return nil
}

// childAddKE is what an ESP policy without ADDKE lists accepts in
// CREATE_CHILD_SA, as it accepts the IKE groups for PFS: for each type,
// the methods the IKE policy p accepts, preferred, then NONE. A peer that
// offers ML-KEM for a CHILD SA then gets it when our IKE SAs would.
func (p Policy) childAddKE() [7][]DHGroup {
	var out [7][]DHGroup
	for i, ms := range p.AddKE {
		for _, m := range ms {
			if m != DHNone {
				out[i] = append(out[i], m)
			}
		}
		if len(out[i]) > 0 {
			out[i] = append(out[i], DHNone)
		}
	}
	return out
}

// hasAddKELists reports whether p lists anything, NONE included, for an
// additional key exchange.
func (p Policy) hasAddKELists() bool {
	for _, ms := range p.AddKE {
		if len(ms) > 0 {
			return true
		}
	}
	return false
}
