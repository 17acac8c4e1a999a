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
	c, ps, err := sa.negotiateChild(m, pol, old, nonce.Data, nr, nr)
	if err != nil {
		e.log.Info("ike: CREATE_CHILD_SA refused", "remote", sa.remote, "err", err)
	}
	sa.respond(m, ps)
	if c == nil || old == nil {
		return
	}
	if old.rekeying != nil {
		// Simultaneous rekey: decide when our own exchange completes.
		old.rekeying.peerChild, old.rekeying.peerNi, old.rekeying.peerNr = c, nonce.Data, nr
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
	return sa.rekeyChildTry(spiIn, pfs, done, false)
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

func (sa *ikeSA) rekeyChildTry(spiIn uint32, pfs DHGroup, done chan error, retried bool) error {
	e := sa.e
	old := sa.childByIn(spiIn)
	if old == nil || old.state != childInstalled || sa.state != stEstablished {
		return fmt.Errorf("ike: rekey: CHILD SA %08x is not installed on an established IKE SA", spiIn)
	}
	if old.rekeying != nil {
		return fmt.Errorf("ike: rekey: CHILD SA %08x is already being rekeyed", spiIn)
	}
	ctx, cancel := context.WithTimeout(e.life, installTimeout) // a rekey: the engine's own work
	defer cancel()
	spi, err := e.cfg.Installer.AllocSPI(ctx, sa.remote.Addr(), sa.local.Addr())
	if err != nil {
		return fmt.Errorf("ike: rekey: allocate SPI: %w", err)
	}
	ni, err := e.randomBytes(32)
	if err != nil {
		return err
	}
	pol := e.cfg.ESP
	pol.DH = nil
	var dh KeyExchange
	if pfs != DHNone {
		// Offer the other groups too: a peer that wants one of them
		// answers INVALID_KE_PAYLOAD and we retry with it.
		pol.DH = append([]DHGroup{pfs}, e.cfg.IKE.DH...)
		if dh, err = StartKeyExchange(pfs, e.cfg.Rand); err != nil {
			return err
		}
	}
	c := &childSA{ChildSA: ChildSA{SPIIn: spi, Initiator: true, Mode: old.Mode, Replaces: old.SPIIn}, state: childLarval}
	sa.children = append(sa.children, c)
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
	sa.enqueue(&request{exch: wire.CreateChildSA, payloads: ps,
		onFail: func(err error) {
			sa.dropChild(c, err)
			finish(err)
		},
		onResponse: func(m *wire.Message) {
			if g, ok := e.invalidKERetry(m, pfs, retried); ok {
				sa.dropChild(c, nil)
				old.rekeying = nil
				if err := sa.rekeyChildTry(old.SPIIn, g, done, true); err == nil {
					return
				}
			}
			err := sa.completeChildRekey(old, c, m, pol, dh, ni)
			if err != nil {
				sa.dropChild(c, err)
			}
			finish(err)
		}})
	return nil
}

// completeChildRekey installs the new CHILD SA from the response and
// retires the old one, resolving a simultaneous rekey by the nonce rule.
func (sa *ikeSA) completeChildRekey(old, c *childSA, m *wire.Message, pol Policy, dh KeyExchange, ni []byte) error {
	if err := errorNotify(m); err != nil {
		return err
	}
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	if nonce == nil {
		return fmt.Errorf("ike: CREATE_CHILD_SA response from %v without Nonce", sa.remote)
	}
	var gir []byte
	if dh != nil {
		ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
		if ke == nil || ke.Group != dh.Group() {
			return fmt.Errorf("ike: CREATE_CHILD_SA response without KE for %v", dh.Group())
		}
		var err error
		if gir, err = dh.SharedSecret(ke.Data); err != nil {
			return err
		}
	}
	if _, err := sa.acceptChild(c, m, pol, old.TSLocal, old.TSRemote, old.Mode, gir, ni, nonce.Data); err != nil {
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
	old.replacedBy = c.SPIIn
	sa.deleteChildLocked(old, nil)
	return nil
}

// handleIKERekey answers a CREATE_CHILD_SA that rekeys this IKE SA (RFC
// 7296 §1.3.2): a new SA with new SPIs and keys from SK_d; the CHILD SAs
// move to it, and the peer deletes this one.
func (sa *ikeSA) handleIKERekey(m *wire.Message, sap *wire.SA, ni, nr []byte) {
	e := sa.e
	if sa.rekey != nil && sa.rekey.peerNew != nil {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}})
		return
	}
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if ke == nil {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}})
		return
	}
	sel, err := e.cfg.IKE.withoutAddKE().PreferDH(ke.Group).Select(sap.Proposals)
	if err != nil || len(sel.PeerSPI) != 8 {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}})
		return
	}
	if sel.DH != ke.Group {
		sa.respond(m, []wire.Payload{wire.InvalidKENotify(sel.DH)})
		return
	}
	ourKE, gir, err := RespondKeyExchange(sel.DH, ke.Data, e.cfg.Rand)
	if err != nil {
		if errors.Is(err, ErrInvalidKE) {
			sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}})
		}
		return
	}
	spir, err := e.newSPI()
	if err != nil {
		return
	}
	n := sa.successor(false, SPI(sel.PeerSPI), spir, sel, ni, nr, gir)
	if n == nil {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}})
		return
	}
	sa.respond(m, []wire.Payload{&wire.SA{Proposals: []Proposal{sel.Proposal(spir[:])}}, &wire.Nonce{Data: nr}, &wire.KE{Group: sel.DH, Data: ourKE}})
	e.register(n)
	if sa.rekey != nil && sa.rekey.ours {
		sa.rekey.peerNew, sa.rekey.peerNi, sa.rekey.peerNr = n, ni, nr
		return
	}
	sa.rekey = &ikeRekey{peerNew: n, peerNi: ni, peerNr: nr}
	sa.moveChildren(n)
	sa.setState(stRekeyed)
	sa.stopTimers()
}

// successor builds the IKE SA that replaces sa: initiator says whether
// we started the rekey.
func (sa *ikeSA) successor(initiator bool, spii, spir SPI, sel *Selection, ni, nr, gir []byte) *ikeSA {
	e := sa.e
	n := &ikeSA{e: e, initiator: initiator, spii: spii, spir: spir, local: sa.local, remote: sa.remote,
		natt: sa.natt, behindNAT: sa.behindNAT, peerBehindNAT: sa.peerBehindNAT, suite: sel.IKESuite(), kes: keyExchangeRecord{sel.DH},
		handshake: &handshake{ni: ni, nr: nr}, peerFrag: sa.peerFrag, peerID: sa.peerID, peerAuth: sa.peerAuth,
		lastRecv: e.cfg.Clock.Now()}
	if err := n.deriveKeys(RekeySKEYSEED(sa.suite.PRF, sa.skd, gir, ni, nr)); err != nil {
		e.log.Warn("ike: rekey keys", "err", err)
		return nil
	}
	n.handshake = nil
	n.established = e.cfg.Clock.Now()
	n.state = stEstablished
	e.stats.add(&e.stats.ikeUp)
	n.lock()
	n.startTimers()
	n.unlock()
	e.log.Debug("ike: IKE SA rekeyed", "old_spi_i", fmt.Sprintf("%x", sa.spii[:]), "new_spi_i", fmt.Sprintf("%x", spii[:]), "new_spi_r", fmt.Sprintf("%x", spir[:]))
	return n
}

// moveChildren hands sa's CHILD SAs to n (after an IKE rekey).
func (sa *ikeSA) moveChildren(n *ikeSA) {
	if n == nil || len(sa.children) == 0 {
		return
	}
	moved := sa.children
	sa.children = nil
	sa.replaced = true
	n.lock()
	for _, c := range moved {
		c.IKESPIi, c.IKESPIr = n.spii, n.spir
	}
	n.children = append(n.children, moved...)
	n.unlock()
}

func (e *Engine) rekeyIKE(ctx context.Context, id SAID) error {
	sa := e.findSA(id)
	if sa == nil {
		return fmt.Errorf("ike: rekey: no IKE SA %v", id)
	}
	done := make(chan error, 1)
	sa.lock()
	err := sa.rekeyIKELocked(done)
	sa.unlock()
	if err != nil {
		return err
	}
	return wait(ctx, done)
}

func (sa *ikeSA) rekeyIKELocked(done chan error) error {
	return sa.rekeyIKETry(sa.suite.DH, done, false)
}

func (sa *ikeSA) rekeyIKETry(g DHGroup, done chan error, retried bool) error {
	e := sa.e
	if sa.state != stEstablished {
		return fmt.Errorf("ike: rekey: IKE SA with %v is %v", sa.remote, sa.state)
	}
	if sa.rekey != nil {
		return errors.New("ike: rekey: IKE SA is already being rekeyed")
	}
	spii, err := e.newSPI()
	if err != nil {
		return err
	}
	ni, err := e.randomBytes(32)
	if err != nil {
		return err
	}
	dh, err := StartKeyExchange(g, e.cfg.Rand)
	if err != nil {
		return err
	}
	pol := e.cfg.IKE.withoutAddKE()
	sa.rekey = &ikeRekey{ours: true}
	finish := func(err error) {
		if done != nil {
			done <- err
		}
	}
	sa.enqueue(&request{exch: wire.CreateChildSA,
		payloads: []wire.Payload{&wire.SA{Proposals: pol.Proposals(spii[:], g)}, &wire.Nonce{Data: ni}, &wire.KE{Group: g, Data: dh.Public()}},
		onFail: func(err error) {
			if sa.rekey != nil {
				sa.rekey.ours = false
				if sa.rekey.peerNew == nil {
					sa.rekey = nil
				}
			}
			finish(err)
		},
		onResponse: func(m *wire.Message) {
			if ng, ok := e.invalidKERetry(m, g, retried); ok && (sa.rekey == nil || sa.rekey.peerNew == nil) {
				sa.rekey = nil
				if err := sa.rekeyIKETry(ng, done, true); err == nil {
					return
				}
			}
			err := sa.completeIKERekey(m, pol, dh, spii, ni)
			if err != nil && sa.rekey != nil {
				sa.rekey.ours = false
				if sa.rekey.peerNew == nil {
					sa.rekey = nil
				} else {
					// The peer's rekey stands.
					sa.moveChildren(sa.rekey.peerNew)
					sa.setState(stRekeyed)
				}
			}
			finish(err)
		}})
	return nil
}

// completeIKERekey builds our new IKE SA from the response, resolves a
// simultaneous rekey by the nonce rule, and deletes the loser.
func (sa *ikeSA) completeIKERekey(m *wire.Message, pol Policy, dh KeyExchange, spii SPI, ni []byte) error {
	e := sa.e
	if err := errorNotify(m); err != nil {
		return err
	}
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if sap == nil || nonce == nil || ke == nil || len(sap.Proposals) != 1 {
		return fmt.Errorf("ike: IKE rekey response from %v lacks SA, Nonce or KE", sa.remote)
	}
	sel, err := pol.Select(sap.Proposals)
	if err != nil {
		return err
	}
	if len(sel.PeerSPI) != 8 || sel.DH != dh.Group() || ke.Group != dh.Group() {
		return fmt.Errorf("ike: IKE rekey response: SPI of %d octets, DH %v, KE %v; want 8 and %v", len(sel.PeerSPI), sel.DH, ke.Group, dh.Group())
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return err
	}
	n := sa.successor(true, spii, SPI(sel.PeerSPI), sel, ni, nonce.Data, gir)
	if n == nil {
		return errors.New("ike: IKE rekey: key derivation failed")
	}
	e.register(n)
	r := sa.rekey
	if r != nil && r.peerNew != nil && bytes.Compare(minNonce(ni, nonce.Data), minNonce(r.peerNi, r.peerNr)) < 0 {
		// Ours is redundant: the peer's new SA carries on, we delete ours
		// and the peer deletes the old one.
		e.log.Debug("ike: IKE rekey collision lost", "remote", sa.remote)
		sa.moveChildren(r.peerNew)
		sa.setState(stRekeyed)
		sa.stopTimers()
		n.lock()
		n.deleteLocked(nil)
		n.unlock()
		return nil
	}
	sa.moveChildren(n)
	sa.rekey = &ikeRekey{}
	sa.deleteLocked(nil)
	sa.stopTimers()
	return nil
}
