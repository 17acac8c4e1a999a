package ike

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// This file rekeys the IKE SA (RFC 7296 §1.3.2, §2.18) in both roles, with
// the additional key exchanges of RFC 9370 §2.2.4 when the chosen proposal
// has them (exchange_followup.go), and resolves simultaneous rekeys by the
// nonce rule (§2.8.2). rekey.go holds CHILD SA rekeys.

// handleIKERekey answers a CREATE_CHILD_SA that rekeys this IKE SA (RFC
// 7296 §1.3.2): a new SA with new SPIs and keys from SK_d; the CHILD SAs
// move to it, and the peer deletes this one. When the chosen proposal has
// additional key exchanges, the new SA exists once the last
// IKE_FOLLOWUP_KE is done.
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
	sel, err := e.cfg.IKE.PreferDH(ke.Group).Select(sap.Proposals)
	if err != nil || len(sel.PeerSPI) != 8 {
		e.log.Info("ike: IKE SA rekey refused", "remote", sa.remote, "err", err)
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
	ps := []wire.Payload{&wire.SA{Proposals: []Proposal{sel.Proposal(spir[:])}}, &wire.Nonce{Data: nr}, &wire.KE{Group: sel.DH, Data: ourKE}}
	complete := func(add [][]byte) (func(), error) {
		n := sa.successor(false, SPI(sel.PeerSPI), spir, sel, ni, nr, gir, add...)
		if n == nil {
			return nil, &NotifyError{Type: wire.NotifyNoProposalChosen}
		}
		return func() { sa.rekeyedByPeer(n, ni, nr) }, nil
	}
	if adds := sel.additionalExchanges(); len(adds) > 0 {
		link, err := sa.startFollowupResp(&followupResp{what: "IKE SA rekey", methods: adds, complete: complete})
		if err != nil {
			sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}})
			return
		}
		sa.respond(m, append(ps, link))
		return
	}
	after, err := complete(nil)
	if err != nil {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyNoProposalChosen}})
		return
	}
	sa.respond(m, ps)
	after()
}

// rekeyedByPeer puts n, the SA that the peer's rekey of sa made, in
// place of sa, or records it for the nonce rule when our own rekey of sa
// is outstanding.
func (sa *ikeSA) rekeyedByPeer(n *ikeSA, ni, nr []byte) {
	sa.e.register(n)
	if sa.rekey != nil && sa.rekey.ours {
		sa.rekey.peerNew, sa.rekey.peerNi, sa.rekey.peerNr = n, ni, nr
		return
	}
	if sa.state != stEstablished {
		// Our own rekey finished while the additional exchanges ran and
		// retired sa: n carries nothing, and the peer keeps ours.
		n.lock()
		n.deleteLocked(nil)
		n.unlock()
		return
	}
	sa.rekey = &ikeRekey{peerNew: n, peerNi: ni, peerNr: nr}
	sa.moveChildren(n)
	sa.setState(stRekeyed)
	sa.stopTimers()
}

// successor builds the IKE SA that replaces sa: initiator says whether
// we started the rekey. add holds the shared secrets of the additional
// key exchanges run in IKE_FOLLOWUP_KE, if any.
func (sa *ikeSA) successor(initiator bool, spii, spir SPI, sel *Selection, ni, nr, gir []byte, add ...[]byte) *ikeSA {
	e := sa.e
	n := &ikeSA{e: e, initiator: initiator, spii: spii, spir: spir, local: sa.local, remote: sa.remote,
		natt: sa.natt, behindNAT: sa.behindNAT, peerBehindNAT: sa.peerBehindNAT, forceEncap: sa.forceEncap, suite: sel.IKESuite(), kes: keyExchangeRecord{sel.DH},
		handshake: &handshake{ni: ni, nr: nr}, peerFrag: sa.peerFrag, peerID: sa.peerID, localID: sa.localID, peerAuth: sa.peerAuth, peerCert: sa.peerCert,
		lastRecv: e.stampOf(e.cfg.Clock.Now())}
	if len(add) > 0 {
		for _, g := range sel.additionalExchanges() {
			n.ranKeyExchange(g)
		}
	}
	if err := n.deriveKeys(RekeySKEYSEED(sa.suite.PRF, sa.skd, gir, ni, nr, add...)); err != nil {
		e.log.Warn("ike: rekey keys", "err", err)
		return nil
	}
	n.handshake = nil
	n.established = e.stampOf(e.cfg.Clock.Now())
	n.state = stEstablished
	sa.inheritNull(n)
	e.stats.add(&e.stats.ikeUp)
	n.lock()
	n.startTimers()
	n.unlock()
	e.log.Debug("ike: IKE SA rekeyed", "old_spi_i", hexSPI(sa.spii), "new_spi_i", hexSPI(spii), "new_spi_r", hexSPI(spir), "key_exchanges", n.kes.list())
	return n
}

// moveChildren hands sa's CHILD SAs to n (after an IKE rekey).
func (sa *ikeSA) moveChildren(n *ikeSA) {
	sa.moveAddresses(n) // modecfg.go: the leases go with the SA
	if n == nil || len(sa.children) == 0 {
		return
	}
	moved := sa.children
	sa.children = nil
	sa.replaced = true
	n.lock()
	for _, c := range moved {
		c.IKESPIi, c.IKESPIr = n.spii, n.spir
		n.e.childIdx.set(c.SPIIn, n)
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
	return sa.rekeyIKETry(sa.suite.DH, done, rekeyTries{})
}

func (sa *ikeSA) rekeyIKETry(g DHGroup, done chan error, tries rekeyTries) error {
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
	pol := rekeyOffer(e.cfg.IKE, tries.classical)
	sa.rekey = &ikeRekey{ours: true}
	finish := func(err error) {
		if done != nil {
			done <- err
		}
	}
	// fail ends our rekey; a rekey by the peer that collided with it
	// stands.
	fail := func(err error) {
		if sa.rekey != nil {
			sa.rekey.ours = false
			if sa.rekey.peerNew == nil {
				sa.rekey = nil
			} else if sa.state == stEstablished {
				sa.moveChildren(sa.rekey.peerNew)
				sa.setState(stRekeyed)
			}
		}
		finish(err)
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
			retry, ng := tries, g
			if x, ok := e.invalidKERetry(m, g, tries.invalidKE); ok {
				retry.invalidKE, ng = true, x
			} else if fallBackClassical(m, pol, sa.kes.additional(), tries.classical) {
				retry.classical = true
				e.log.Info("ike: IKE SA rekey: peer refused the additional key exchanges, retrying without", "remote", sa.remote)
			}
			if retry != tries && (sa.rekey == nil || sa.rekey.peerNew == nil) {
				sa.rekey = nil
				if err := sa.rekeyIKETry(ng, done, retry); err == nil {
					return
				}
			}
			sel, gir, err := sa.ikeRekeyResponse(m, pol, dh)
			if err != nil {
				fail(err)
				return
			}
			complete := func(add [][]byte) {
				if err := sa.completeIKERekey(m, sel, spii, ni, gir, add...); err != nil {
					fail(err)
					return
				}
				finish(nil)
			}
			if adds := sel.additionalExchanges(); len(adds) > 0 {
				sa.runFollowups("IKE SA rekey", adds, m, complete, fail)
				return
			}
			complete(nil)
		}})
	return nil
}

// ikeRekeyResponse checks the CREATE_CHILD_SA response to our rekey of
// the IKE SA: no error, SA with an 8-octet SPI and a proposal we offered,
// Nonce, and the KE of our group. It returns the selection, whose
// additional exchanges are to run next, and the shared secret.
func (sa *ikeSA) ikeRekeyResponse(m *wire.Message, pol Policy, dh KeyExchange) (*Selection, []byte, error) {
	if err := errorNotify(m); err != nil {
		return nil, nil, err
	}
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if sap == nil || nonce == nil || ke == nil || len(sap.Proposals) != 1 {
		return nil, nil, fmt.Errorf("ike: IKE rekey response from %v lacks SA, Nonce or KE", sa.remote)
	}
	sel, err := pol.Select(sap.Proposals)
	if err != nil {
		return nil, nil, err
	}
	if len(sel.PeerSPI) != 8 || sel.DH != dh.Group() || ke.Group != dh.Group() {
		return nil, nil, fmt.Errorf("ike: IKE rekey response: SPI of %d octets, DH %v, KE %v; want 8 and %v", len(sel.PeerSPI), sel.DH, ke.Group, dh.Group())
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, nil, err
	}
	return sel, gir, nil
}

// completeIKERekey builds our new IKE SA from the response m (and the
// secrets add of the additional key exchanges that followed it), resolves
// a simultaneous rekey by the nonce rule, and deletes the loser.
func (sa *ikeSA) completeIKERekey(m *wire.Message, sel *Selection, spii SPI, ni, gir []byte, add ...[]byte) error {
	e := sa.e
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	n := sa.successor(true, spii, SPI(sel.PeerSPI), sel, ni, nonce.Data, gir, add...)
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
