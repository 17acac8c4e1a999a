package ike

import (
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// This file runs RFC 9370's additional key exchanges for a new IKE SA, one
// per IKE_INTERMEDIATE exchange (RFC 9242) between IKE_SA_INIT and
// IKE_AUTH: the initiator sends KE(method of ADDKEn), the responder answers
// with its KE (for ML-KEM the ciphertext), and both update the IKE SA's
// keys with the new shared secret (IKEKeys.UpdateAfterAddKE). Each message
// is protected with the keys in force before its exchange's update, and
// joins the IntAuth chain (intauth.go) that AUTH covers.

// offersAddKE reports whether an offer carries an additional key exchange
// other than NONE: we then send INTERMEDIATE_EXCHANGE_SUPPORTED.
func offersAddKE(offer []Proposal) bool {
	for _, p := range offer {
		for _, t := range p.Transforms {
			if t.Type.AddKE() != 0 && t.ID != uint16(DHNone) {
				return true
			}
		}
	}
	return false
}

// chosenAddKE is the responder's chosen proposal's additional key
// exchanges in ADDKE order, NONE left out (checkAddKEChoice has checked
// them against our offer).
func chosenAddKE(p Proposal) []DHGroup {
	var byType [7]DHGroup
	for _, t := range p.Transforms {
		if n := t.Type.AddKE(); n != 0 {
			byType[n-1] = DHGroup(t.ID)
		}
	}
	var out []DHGroup
	for _, m := range byType {
		if m != DHNone {
			out = append(out, m)
		}
	}
	return out
}

// additionalExchanges is the selection's additional key exchanges in ADDKE
// order, NONE left out.
func (s *Selection) additionalExchanges() []DHGroup {
	var out []DHGroup
	for _, m := range s.AddKE {
		if m != DHNone {
			out = append(out, m)
		}
	}
	return out
}

// hasAddKEMethods reports whether the policy accepts an additional key
// exchange other than NONE.
func (p Policy) hasAddKEMethods() bool {
	for _, ms := range p.AddKE {
		for _, m := range ms {
			if m != DHNone {
				return true
			}
		}
	}
	return false
}

// addKENoneWherePossible is p for a peer that cannot run additional key
// exchanges: NONE alone for each type where p accepts NONE; types p
// requires stay as they are (Select then picks a method, which the caller
// refuses).
func (p Policy) addKENoneWherePossible() Policy {
	for i, ms := range p.AddKE {
		for _, m := range ms {
			if m == DHNone {
				p.AddKE[i] = []DHGroup{DHNone}
				break
			}
		}
	}
	return p
}

// withoutAddKE is p with no additional key exchanges: for the CHILD SA of
// IKE_AUTH, which has no key exchange of its own, and for a rekey's
// classical retry (rekeyOffer).
func (p Policy) withoutAddKE() Policy {
	p.AddKE = [7][]DHGroup{}
	return p
}

// foldIntAuth adds an IKE_INTERMEDIATE message we protected to the IntAuth
// chain, with our SK_p in force now (before the exchange's key update).
func (sa *ikeSA) foldIntAuth(m *wire.Message) error {
	if sa.handshake == nil {
		return errors.New("ike: IKE_INTERMEDIATE after the handshake")
	}
	a, p, err := m.IntAuthParts()
	if err != nil {
		return err
	}
	if m.IsResponse() {
		sa.intAuth.addResponse(sa.suite.PRF, sa.skpr, a, p)
	} else {
		sa.intAuth.addRequest(sa.suite.PRF, sa.skpi, a, p)
	}
	return nil
}

// updateKeysAfterAddKE installs the keys that follow the additional key
// exchange whose shared secret is secret, the next one of sa.addKE.
func (sa *ikeSA) updateKeysAfterAddKE(secret []byte) error {
	k, err := (&IKEKeys{Suite: sa.suite, SKd: sa.skd}).UpdateAfterAddKE(secret, sa.ni, sa.nr, sa.spii, sa.spir)
	if err != nil {
		return err
	}
	if err := sa.installKeys(k); err != nil {
		return err
	}
	sa.e.log.Debug("ike: additional key exchange done", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir),
		"remote", sa.remote, "addke", sa.addKEDone+1, "method", sa.addKE[sa.addKEDone].String())
	return nil
}

// sendIntermediate sends the IKE_INTERMEDIATE request of the next
// additional key exchange.
func (sa *ikeSA) sendIntermediate() error {
	g := sa.addKE[sa.addKEDone]
	kx, err := StartKeyExchange(g, sa.e.cfg.Rand)
	if err != nil {
		return fmt.Errorf("ike: ADDKE%d %v: %w", sa.addKEDone+1, g, err)
	}
	sa.dh = kx
	sa.enqueue(&request{exch: wire.IKEIntermediate, payloads: []wire.Payload{&wire.KE{Group: g, Data: kx.Public()}},
		trace: &ExchangeTrace{}, onResponse: sa.onIntermediateResponse, onFail: sa.failInit})
	return nil
}

// onIntermediateResponse handles the responder's KE, updates the keys and
// goes on with the next exchange or IKE_AUTH.
func (sa *ikeSA) onIntermediateResponse(m *wire.Message) {
	if sa.init == nil || sa.dh == nil {
		return
	}
	n, g := sa.addKEDone+1, sa.addKE[sa.addKEDone]
	if err := errorNotify(m); err != nil {
		sa.die(fmt.Errorf("ike: IKE_INTERMEDIATE (ADDKE%d %v): %w", n, g, err), false)
		return
	}
	a, p, err := m.IntAuthParts()
	if err != nil {
		sa.die(err, false)
		return
	}
	sa.intAuth.addResponse(sa.suite.PRF, sa.skpr, a, p)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if ke == nil || ke.Group != g {
		sa.die(fmt.Errorf("ike: IKE_INTERMEDIATE response for ADDKE%d %v without its KE payload", n, g), false)
		return
	}
	secret, err := sa.dh.SharedSecret(ke.Data)
	if err != nil {
		sa.die(fmt.Errorf("ike: IKE_INTERMEDIATE (ADDKE%d %v): %w", n, g, err), false)
		return
	}
	sa.dh = nil
	if err := sa.updateKeysAfterAddKE(secret); err != nil {
		sa.die(err, false)
		return
	}
	sa.addKEDone++
	sa.ranKeyExchange(g)
	if sa.init.trace != nil {
		sa.init.trace.AddKE = append(sa.init.trace.AddKE, g)
	}
	if sa.addKEDone < len(sa.addKE) {
		err = sa.sendIntermediate()
	} else {
		err = sa.sendAuth()
	}
	if err != nil {
		sa.die(err, false)
	}
}

// handleIntermediateRequest answers, as the responder, the IKE_INTERMEDIATE
// request of the next additional key exchange.
func (sa *ikeSA) handleIntermediateRequest(m *wire.Message) {
	e := sa.e
	sa.retransmitCin = nil
	fail := func(t wire.NotifyType, err error) {
		e.log.Info("ike: IKE_INTERMEDIATE refused", "remote", sa.remote, "notify", t, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: t}})
		sa.die(err, true)
	}
	if sa.addKEDone >= len(sa.addKE) {
		fail(wire.NotifyInvalidSyntax, fmt.Errorf("ike: IKE_INTERMEDIATE request %d from %v, but %d additional key exchanges were negotiated", m.MessageID, sa.remote, len(sa.addKE)))
		return
	}
	n, g := sa.addKEDone+1, sa.addKE[sa.addKEDone]
	a, p, err := m.IntAuthParts()
	if err != nil {
		fail(wire.NotifyInvalidSyntax, err)
		return
	}
	sa.intAuth.addRequest(sa.suite.PRF, sa.skpi, a, p)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if ke == nil || ke.Group != g {
		fail(wire.NotifyInvalidSyntax, fmt.Errorf("ike: IKE_INTERMEDIATE request from %v: want a KE payload for ADDKE%d %v", sa.remote, n, g))
		return
	}
	ours, secret, err := RespondKeyExchange(g, ke.Data, e.cfg.Rand)
	if err != nil {
		fail(wire.NotifyInvalidSyntax, fmt.Errorf("ike: IKE_INTERMEDIATE request from %v, ADDKE%d %v: %w", sa.remote, n, g, err))
		return
	}
	sa.respond(m, []wire.Payload{&wire.KE{Group: g, Data: ours}})
	prev := sa.cin
	if err := sa.updateKeysAfterAddKE(secret); err != nil {
		e.log.Warn("ike: key update after an additional key exchange", "remote", sa.remote, "err", err)
		sa.die(err, false)
		return
	}
	sa.retransmitCin = prev // a retransmitted request still has the old keys
	sa.addKEDone++
	sa.ranKeyExchange(g)
}
