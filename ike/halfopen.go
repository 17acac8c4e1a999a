package ike

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// forget removes sa from the engine's tables.
func (e *Engine) forget(sa *ikeSA) {
	e.mu.Lock()
	if e.sas[sa.ourSPI()] == sa {
		delete(e.sas, sa.ourSPI())
		e.shrinkSAsLocked()
	}
	e.unindexPeerLocked(sa)
	e.unindexAddrLocked(sa)
	e.leaveHalfOpenLocked(sa)
	e.dropInitEntryLocked(sa)
	e.mu.Unlock()
}

// addSALocked enters sa in e.sas by our SPI. e.mu is held.
func (e *Engine) addSALocked(sa *ikeSA) {
	e.sas[sa.ourSPI()] = sa
	e.sasPeak = max(e.sasPeak, len(e.sas))
	e.indexAddrLocked(sa)
}

// Maps never shrink: a Go map keeps the buckets of the most entries it
// held. After a burst (10,000 peers, of which 100 stay) the SA table is
// re-made at its present size once it falls to mapShrinkFactor below its
// peak, if that peak was at least mapShrinkMin; the copy costs one entry
// per mapShrinkFactor-1 deletes before it, so it is amortised.
const (
	mapShrinkMin    = 1024
	mapShrinkFactor = 8
)

// shrinkSAsLocked re-makes e.sas when it has shrunk far below its peak.
// e.mu is held.
func (e *Engine) shrinkSAsLocked() {
	if e.sasPeak < mapShrinkMin || len(e.sas) > e.sasPeak/mapShrinkFactor {
		return
	}
	m := make(map[SPI]*ikeSA, len(e.sas))
	for k, v := range e.sas {
		m[k] = v
	}
	e.sas, e.sasPeak = m, len(m)
	// The peer indexes hold at most an entry per SA: they shrink with it.
	e.byAddr = remade(e.byAddr)
	e.byPeerID = remade(e.byPeerID)
}

// remade is a copy of m in a map of its present size.
func remade[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// leaveHalfOpen stops counting sa as half open (it authenticated, or
// died). Its IKE_SA_INIT entry stays until the half-open timeout, so that
// a late duplicate of the request is recognised rather than starting a
// new SA.
func (e *Engine) leaveHalfOpen(sa *ikeSA) {
	e.mu.Lock()
	e.leaveHalfOpenLocked(sa)
	e.mu.Unlock()
}

func (e *Engine) leaveHalfOpenLocked(sa *ikeSA) {
	if sa.halfCounted {
		sa.halfCounted = false
		e.nHalf--
	}
}

// dropInitEntryLocked forgets the IKE_SA_INIT request that created sa.
func (e *Engine) dropInitEntryLocked(sa *ikeSA) {
	if sa.half != nil && e.halfOpen[*sa.half] == sa {
		delete(e.halfOpen, *sa.half)
		if len(e.halfOpen) == 0 {
			// Maps never shrink: after a burst of handshakes, let the
			// burst's buckets go with it.
			e.halfOpen = make(map[halfOpenKey]*ikeSA)
		}
	}
	sa.half = nil
}

// handleInitRequest answers an IKE_SA_INIT request as responder (RFC 7296
// §1.2, §2.6): retransmissions get the cached answer; above the half-open
// threshold a cookie is demanded; otherwise we choose a proposal (or ask
// for another KE group), compute the keys and keep a half-open SA.
func (e *Engine) handleInitRequest(pkt []byte, h wire.Header, local, remote netip.AddrPort) {
	if e.cfg.Policy == nil {
		e.drop(DropUnexpectedExchange, remote, errors.New("IKE_SA_INIT request but no responder policy"))
		return
	}
	key := halfOpenKey{spii: h.SPIi, remote: remote}
	e.mu.Lock()
	old := e.halfOpen[key]
	nHalf := e.nHalf
	e.mu.Unlock()
	if old != nil {
		old.lock()
		defer old.unlock()
		if old.state == stHalfOpen && old.initR != nil && (bytes.Equal(pkt, old.initI) || e.adoptCookieRetry(old, pkt)) {
			e.stats.add(&e.stats.respResent)
			e.send(old.initR, local, remote)
			return
		}
		e.drop(DropOldMessageID, remote, fmt.Errorf("IKE_SA_INIT request for an SA that is %v, not a retransmission of a pending one", old.state))
		return
	}
	if nHalf >= e.cfg.HalfOpenLimit {
		e.drop(DropHalfOpenLimit, remote, fmt.Errorf("%d half-open SAs", nHalf))
		return
	}
	cookieNeeded := e.cfg.HalfOpenCookieThreshold < 0 || nHalf >= e.cfg.HalfOpenCookieThreshold
	if cookieNeeded && !e.cfg.InitLimits.LateCookieCheck && e.screenInit(pkt, h, nHalf, local, remote) {
		return
	}
	m, err := wire.ParseMessage(pkt)
	if err != nil {
		var uc *wire.UnsupportedCriticalPayloadError
		if errors.As(err, &uc) {
			// RFC 7296 §2.5: say which payload we do not support.
			out := &wire.Message{Header: wire.Header{SPIi: h.SPIi, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}, Payloads: []wire.Payload{uc.Notify()}}
			if b, err := out.Marshal(); err == nil {
				e.send(b, local, remote)
			}
		}
		e.drop(DropMalformed, remote, err)
		return
	}
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nonce == nil {
		e.drop(DropInvalid, remote, fmt.Errorf("IKE_SA_INIT request without %s", missing(sap == nil, "SA", ke == nil, "KE", nonce == nil, "Nonce")))
		return
	}
	answer := func(ps ...wire.Payload) {
		out := &wire.Message{Header: wire.Header{SPIi: h.SPIi, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}, Payloads: ps}
		b, err := out.Marshal()
		if err == nil {
			e.send(b, local, remote)
		}
	}
	if cookieNeeded {
		c := m.Notify(wire.NotifyCookie)
		if c == nil || !e.cookies.Verify(c.Data, nonce.Data, remote.Addr(), h.SPIi) {
			if c != nil {
				e.drop(DropBadCookie, remote, errors.New("cookie does not verify"))
			}
			n, err := e.cookies.Notify(nonce.Data, remote.Addr(), h.SPIi)
			if err != nil {
				e.log.Warn("ike: cookie", "err", err)
				return
			}
			e.stats.add(&e.stats.cookiesSent)
			e.cookieDemanded(nHalf)
			answer(n)
			return
		}
		e.stats.add(&e.stats.cookiesVerified)
	}
	peerIntermediate := m.Notify(wire.NotifyIntermediateExchangeSupported) != nil
	pol := e.cfg.IKE.PreferDH(ke.Group)
	if !peerIntermediate {
		pol = pol.addKENoneWherePossible()
	}
	sel, err := pol.Select(sap.Proposals)
	if err == nil && !peerIntermediate && len(sel.additionalExchanges()) > 0 {
		err = fmt.Errorf("proposal %d needs additional key exchanges, and the peer did not send INTERMEDIATE_EXCHANGE_SUPPORTED", sel.Number)
	}
	if err != nil {
		e.log.Debug("ike: IKE_SA_INIT: no proposal chosen", "remote", remote, "err", err)
		answer(&wire.Notify{NotifyType: wire.NotifyNoProposalChosen})
		return
	}
	if sel.DH != ke.Group {
		e.log.Debug("ike: IKE_SA_INIT: asking for another KE group", "remote", remote, "got", ke.Group, "want", sel.DH)
		answer(wire.InvalidKENotify(sel.DH))
		return
	}
	ourKE, gir, err := RespondKeyExchange(sel.DH, ke.Data, e.cfg.Rand)
	if err != nil {
		if !errors.Is(err, ErrInvalidKE) {
			e.log.Warn("ike: key exchange", "method", sel.DH, "err", err)
			return
		}
		if sel.DH.KEM() {
			// draft-ietf-ipsecme-ikev2-mlkem: an encapsulation key of
			// the wrong length or encoding is refused with
			// INVALID_SYNTAX. A DH group's bad value is dropped, as
			// before.
			answer(&wire.Notify{NotifyType: wire.NotifyInvalidSyntax})
		}
		e.drop(DropInvalid, remote, err)
		return
	}
	nr, err := e.randomBytes(32)
	if err != nil {
		return
	}
	spir, err := e.newSPI()
	if err != nil {
		return
	}
	sa := &ikeSA{e: e, initiator: false, spii: h.SPIi, spir: spir, local: local, remote: remote,
		suite: sel.IKESuite(), kes: keyExchangeRecord{sel.DH}, handshake: &handshake{ni: nonce.Data, nr: nr}, peerNext: 1}
	if err := sa.deriveKeys(SKEYSEED(sel.PRF, nonce.Data, nr, gir)); err != nil {
		e.log.Warn("ike: keys", "err", err)
		return
	}
	nat := detectNAT(m, local, remote)
	sa.behindNAT, sa.peerBehindNAT = nat.LocalBehindNAT, nat.RemoteBehindNAT
	sa.natt = local.Port() == e.cfg.NATTPort
	// Forced encapsulation needs the peer to speak NAT-T: it sent the
	// notifies. ESP is encapsulated only once IKE runs on 4500.
	sa.forceEncap = e.cfg.ForceUDPEncap && nat.Checked
	sa.notePeerCaps(m)
	sa.addKE = sel.additionalExchanges()

	// Room for every payload below (SA, KE, Nonce, CERTREQ, two NAT
	// detection notifies, four more notifies and a Vendor ID): appending
	// to a slice of three grew it twice for every IKE_SA_INIT answered.
	resp := make([]wire.Payload, 0, 11)
	resp = append(resp,
		&wire.SA{Proposals: []Proposal{sel.Proposal(nil)}},
		&wire.KE{Group: sel.DH, Data: ourKE},
		&wire.Nonce{Data: nr},
	)
	if req := sa.certRequest(); req != nil {
		resp = append(resp, req) // RFC 7296 §1.2: [CERTREQ] follows Nr
	}
	for _, n := range e.ourNATDetection(sa.spii, sa.spir, local, remote) {
		resp = append(resp, n)
	}
	resp = append(resp, &wire.Notify{NotifyType: wire.NotifyFragmentationSupported})
	if !e.cfg.NoSignatureHashes {
		resp = append(resp, signatureHashNotify())
	}
	if hasVendorID(m, wire.VendorIDOpportunisticIPsec) {
		resp = append(resp, &wire.VendorID{Data: wire.VendorIDOpportunisticIPsec})
	}
	if peerIntermediate && e.cfg.IKE.hasAddKEMethods() {
		resp = append(resp, &wire.Notify{NotifyType: wire.NotifyIntermediateExchangeSupported})
	}
	out := &wire.Message{Header: wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}, Payloads: resp}
	b, err := out.Marshal()
	if err != nil {
		e.log.Warn("ike: IKE_SA_INIT response", "err", err)
		return
	}
	// m.Raw is ParseMessage's own copy of pkt, which the parsed payloads
	// do not alias: keep it rather than copy pkt again.
	sa.initI, sa.initR = m.Raw(), b
	sa.state = stHalfOpen
	sa.half = &key

	e.mu.Lock()
	if e.halfOpen[key] != nil || e.closed {
		e.mu.Unlock()
		return // lost a race with a duplicate
	}
	if e.nHalf >= e.cfg.HalfOpenLimit {
		// The count read at the top is stale: requests handled
		// concurrently each saw room for one more. The limit holds here,
		// where the count moves.
		n := e.nHalf
		e.mu.Unlock()
		e.drop(DropHalfOpenLimit, remote, fmt.Errorf("%d half-open SAs", n))
		return
	}
	e.halfOpen[key] = sa
	e.nHalf++
	e.nHalfPeak = max(e.nHalfPeak, e.nHalf)
	sa.halfCounted = true
	sa.peer = peerRef{addr: remote.Addr().Unmap()}
	sa.begun = e.nextSeqLocked()
	e.addSALocked(sa)
	e.mu.Unlock()

	sa.lock()
	defer sa.unlock()
	sa.timers.halfOpen = e.sched.AfterFunc(e.cfg.HalfOpenTimeout, func() {
		sa.lock()
		defer sa.unlock()
		if sa.state == stHalfOpen {
			sa.die(fmt.Errorf("ike: half-open SA with %v timed out", sa.remote), false)
			return
		}
		e.mu.Lock()
		e.dropInitEntryLocked(sa)
		e.mu.Unlock()
	})
	if e.debugOn() {
		e.log.Debug("ike: IKE_SA_INIT answered", "remote", remote, "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "suite", sa.suite, "nat", nat)
	}
	sa.lastRecv = e.stampOf(e.cfg.Clock.Now())
	e.send(b, local, remote)
	if p, ok := e.cfg.Keys.(KeyPrefetcher); ok {
		p.PrefetchPeerKeys(remote.Addr().Unmap())
	}
}

// send sends one datagram outside any SA.
func (e *Engine) send(pkt []byte, local, remote netip.AddrPort) {
	if err := e.cfg.Sender.Send(pkt, local, remote); err != nil {
		e.log.Debug("ike: send failed", "remote", remote, "err", err)
		return
	}
	e.stats.add(&e.stats.sent)
}

// deriveKeys computes the SA's keys from SKEYSEED and its nonces and SPIs.
func (sa *ikeSA) deriveKeys(skeyseed []byte) error {
	k, err := sa.suite.DeriveIKEKeys(skeyseed, sa.ni, sa.nr, sa.spii, sa.spir)
	if err != nil {
		return err
	}
	return sa.installKeys(k)
}

// installKeys makes k the SA's keys.
func (sa *ikeSA) installKeys(k *IKEKeys) error {
	// The keys are slices of one key-material buffer: copy what we keep,
	// so that the buffer (and the keys we do not keep) can be freed.
	// NewSKCipher copies its keys into one slice of its own, so SK_e and
	// SK_a are passed as they are: cloning them here as well cost four
	// allocations per key set that were thrown away at once.
	fromI, err := NewSKCipher(sa.suite.Encr, sa.suite.Integ, k.SKei, k.SKai)
	if err != nil {
		return err
	}
	fromR, err := NewSKCipher(sa.suite.Encr, sa.suite.Integ, k.SKer, k.SKar)
	if err != nil {
		return err
	}
	if sa.initiator {
		sa.cout, sa.cin = fromI, fromR
	} else {
		sa.cout, sa.cin = fromR, fromI
	}
	sa.skd, sa.skpi, sa.skpr = bytes.Clone(k.SKd), k.SKpi, k.SKpr
	return nil
}

// notePeerCaps records what the peer's IKE_SA_INIT message announced.
func (sa *ikeSA) notePeerCaps(m *wire.Message) {
	for _, p := range m.Payloads {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NotifyFragmentationSupported:
			sa.peerFrag = true
		case wire.NotifyIntermediateExchangeSupported:
			sa.peerIntermediate = true
		case wire.NotifySignatureHashAlgorithms:
			if hs, err := parseSignatureHashes(n); err == nil {
				sa.hashes = hs
			}
		}
	}
}

func hasVendorID(m *wire.Message, id []byte) bool {
	for _, p := range m.Payloads {
		if v, ok := p.(*wire.VendorID); ok && bytes.Equal(v.Data, id) {
			return true
		}
	}
	return false
}

// missing names the absent payloads: pairs of (absent, name).
func missing(args ...any) string {
	var out []string
	for i := 0; i+1 < len(args); i += 2 {
		if args[i].(bool) {
			out = append(out, args[i+1].(string))
		}
	}
	return fmt.Sprint(out)
}
