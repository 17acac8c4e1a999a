package ike

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// initiation is the initiator's side of IKE_SA_INIT and IKE_AUTH: what
// Initiate asked for, what the peer made us change, and where the result
// goes. It is dropped once Initiate has its answer.
type initiation struct {
	// ctx is Initiate's: the data plane and key calls made for the
	// initiation get it (sa.callCtx, sa.keySource).
	ctx      context.Context
	opts     InitiateOptions
	ike, esp Policy
	group    DHGroup
	cookie   []byte
	retries  int // cookie and INVALID_KE round trips
	trace    *Trace
	child    *childSA
	// cert is InitiateOptions.Cert, checked; nil: the default.
	cert     *ourCert
	done     chan initResult
	finished bool
}

type initResult struct {
	info ChildSAInfo
	err  error
}

// maxInitRetries bounds COOKIE and INVALID_KE_PAYLOAD round trips.
const maxInitRetries = 4

func (in *initiation) finish(info ChildSAInfo, err error) {
	if in.finished {
		return
	}
	in.finished = true
	in.done <- initResult{info, err}
}

func (e *Engine) initiate(ctx context.Context, opts InitiateOptions) (ChildSAInfo, error) {
	in, sa, err := e.startInitiate(ctx, opts)
	if err != nil {
		return ChildSAInfo{Trace: opts.Trace}, err
	}
	return sa.awaitInitiate(ctx, in)
}

// startInitiate checks opts and sends the IKE_SA_INIT request; the result
// arrives on in.done.
func (e *Engine) startInitiate(ctx context.Context, opts InitiateOptions) (*initiation, *ikeSA, error) {
	e.mu.Lock()
	closed := e.closed || e.closing
	e.mu.Unlock()
	if closed {
		return nil, nil, ErrClosed
	}
	if !opts.Remote.IsValid() {
		return nil, nil, fmt.Errorf("ike: initiate: remote address %v is not valid", opts.Remote)
	}
	if !opts.Mode.Valid() {
		return nil, nil, fmt.Errorf("ike: initiate %v: InitiateOptions.Mode is %v; set ModeTunnel or ModeTransport", opts.Remote, opts.Mode)
	}
	if opts.Auth == AuthKindNone {
		opts.Auth = AuthKindNull
		if e.cfg.Credentials.Signer != nil {
			opts.Auth = AuthKindPubkey
		} else if opts.Cert != nil || e.hasDefaultCert() {
			opts.Auth = AuthKindCert
		}
	}
	var cert *ourCert
	if opts.Cert != nil {
		if opts.Auth != AuthKindCert {
			return nil, nil, fmt.Errorf("ike: initiate: InitiateOptions.Cert is set but Auth is %v", opts.Auth)
		}
		c, err := newOurCert(opts.Cert)
		if err != nil {
			return nil, nil, fmt.Errorf("ike: initiate: InitiateOptions.Cert: %w", err)
		}
		cert = c
	}
	switch opts.Auth {
	case AuthKindPubkey:
		if e.cfg.Credentials.Signer == nil {
			return nil, nil, errors.New("ike: initiate: pubkey authentication but no private key")
		}
	case AuthKindCert:
		if cert == nil && !e.hasDefaultCert() {
			return nil, nil, errors.New("ike: initiate: certificate authentication but no certificate (InitiateOptions.Cert or Credentials.Cert)")
		}
	case AuthKindPSK:
		if e.cfg.Credentials.PSK == nil || e.cfg.Credentials.PSK(pskPeer(opts)) == nil {
			return nil, nil, fmt.Errorf("ike: initiate: no pre-shared key for %v", pskPeer(opts))
		}
	}
	if len(opts.TSi) == 0 && opts.RequestAddress.any() && !opts.RequestAddress.OnlyBehindNAT {
		opts.TSi = opts.RequestAddress.wideSelectors()
	}
	if peerAuthWanted(opts) == AuthKindCert && e.cfg.CertVerifier == nil && opts.PeerCertVerifier == nil {
		return nil, nil, errors.New("ike: initiate: the peer must authenticate with a certificate but no CertVerifier is configured")
	}
	if (len(opts.TSi) == 0 || len(opts.TSr) == 0) && !opts.Local.IsValid() {
		return nil, nil, errors.New("ike: initiate: default traffic selectors need InitiateOptions.Local")
	}
	if len(opts.TSi) == 0 {
		opts.TSi = []TrafficSelector{HostSelector(opts.Local)}
	}
	if len(opts.TSr) == 0 {
		opts.TSr = []TrafficSelector{HostSelector(opts.Remote.Addr())}
	}
	in := &initiation{ctx: ctx, opts: opts, ike: e.cfg.IKE, esp: e.cfg.ESP, trace: opts.Trace, cert: cert, done: make(chan initResult, 1)}
	if opts.IKE.Protocol != 0 {
		if err := opts.IKE.Validate(); err != nil {
			return nil, nil, fmt.Errorf("ike: initiate: IKE proposals: %w", err)
		}
		in.ike = opts.IKE
	}
	for _, p := range opts.IKEOffer {
		if p.Protocol != ProtocolIKE {
			return nil, nil, fmt.Errorf("ike: initiate: IKE offer: proposal %d is for %v", p.Number, p.Protocol)
		}
	}
	if opts.ESP.Protocol != 0 {
		if err := opts.ESP.Validate(); err != nil {
			return nil, nil, fmt.Errorf("ike: initiate: ESP proposals: %w", err)
		}
		in.esp = opts.ESP
	}
	if in.trace == nil {
		in.trace = new(Trace)
	}
	in.group = in.ike.DH[0]
	spii, err := e.newSPI()
	if err != nil {
		return nil, nil, err
	}
	ni, err := e.randomBytes(32)
	if err != nil {
		return nil, nil, err
	}
	var local netip.AddrPort
	if opts.Local.IsValid() {
		local = netip.AddrPortFrom(opts.Local, e.cfg.IKEPort)
	}
	sa := &ikeSA{e: e, initiator: true, spii: spii, local: local, remote: opts.Remote, init: in, handshake: &handshake{ni: ni}, state: stInitSent, localID: identityRef(opts.LocalID)}
	e.register(sa)
	sa.lock()
	err = sa.sendInit()
	if err != nil {
		sa.die(err, false)
	}
	sa.unlock()
	if err != nil {
		return nil, nil, err
	}
	return in, sa, nil
}

// awaitInitiate waits for the outcome of an initiation.
func (sa *ikeSA) awaitInitiate(ctx context.Context, in *initiation) (ChildSAInfo, error) {
	select {
	case r := <-in.done:
		r.info.Trace = in.trace
		return r.info, r.err
	case <-ctx.Done():
		err := fmt.Errorf("ike: initiate: %w", ctx.Err())
		if cause := context.Cause(ctx); cause != ctx.Err() {
			err = fmt.Errorf("ike: initiate: %w: %w", ctx.Err(), cause)
		}
		sa.lock()
		sa.abandon(err, nil)
		sa.unlock()
		r := <-in.done
		if r.err == nil {
			// The CHILD SA came up as ctx ended, and abandon deleted it.
			r.err = err
		}
		return ChildSAInfo{Trace: in.trace}, r.err
	}
}

// offer is the SA payload of our IKE_SA_INIT request with KE group g.
func (in *initiation) offer(g DHGroup) []Proposal {
	if len(in.opts.IKEOffer) > 0 {
		return in.opts.IKEOffer
	}
	return in.ike.Proposals(nil, g)
}

// peerAuthWanted is how the responder must authenticate: PeerAuth, or
// our own class.
func peerAuthWanted(opts InitiateOptions) AuthKind {
	if opts.PeerAuth != AuthKindNone {
		return opts.PeerAuth
	}
	return opts.Auth
}

// pskPeer is whom Initiate looks a PSK up for.
func pskPeer(opts InitiateOptions) Identity {
	if opts.PeerID.Type != 0 {
		return opts.PeerID
	}
	return AddrIdentity(opts.Remote.Addr())
}

// sendInit sends (or resends, after COOKIE or INVALID_KE_PAYLOAD) the
// IKE_SA_INIT request.
func (sa *ikeSA) sendInit() error {
	e, in := sa.e, sa.init
	if sa.dh == nil || sa.dh.Group() != in.group {
		dh, err := StartKeyExchange(in.group, e.cfg.Rand)
		if err != nil {
			return err
		}
		sa.dh = dh
	}
	var ps []wire.Payload
	if in.cookie != nil {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyCookie, Data: in.cookie})
	}
	ps = append(ps,
		&wire.SA{Proposals: in.offer(in.group)},
		&wire.KE{Group: in.group, Data: sa.dh.Public()},
		&wire.Nonce{Data: sa.ni})
	for _, n := range e.ourNATDetection(sa.spii, SPI{}, sa.local, sa.remote) {
		ps = append(ps, n)
	}
	ps = append(ps, &wire.Notify{NotifyType: wire.NotifyFragmentationSupported})
	if !e.cfg.NoSignatureHashes {
		ps = append(ps, signatureHashNotify())
	}
	if offersAddKE(in.offer(in.group)) {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyIntermediateExchangeSupported})
	}
	if in.opts.Auth == AuthKindNull {
		ps = append(ps, &wire.VendorID{Data: wire.VendorIDOpportunisticIPsec})
	}
	m := &wire.Message{Header: wire.Header{SPIi: sa.spii, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: ps}
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("ike: IKE_SA_INIT request: %w", err)
	}
	sa.initI = b
	sa.enqueue(&request{exch: wire.IKESAInit, plain: true, pkts: [][]byte{b}, trace: &ExchangeTrace{},
		onResponse: sa.onInitResponse, onFail: sa.failInit})
	return nil
}

// failInit ends Initiate with err.
func (sa *ikeSA) failInit(err error) {
	if sa.init != nil {
		sa.init.finish(ChildSAInfo{}, err)
	}
}

// onInitResponse handles the IKE_SA_INIT response.
func (sa *ikeSA) onInitResponse(m *wire.Message) {
	in := sa.init
	if in == nil {
		return
	}
	if c := m.Notify(wire.NotifyCookie); c != nil && m.Get(wire.PayloadSA) == nil {
		in.trace.Cookie = true
		if in.retries++; in.retries > maxInitRetries {
			sa.die(fmt.Errorf("ike: IKE_SA_INIT: peer keeps asking for cookies"), false)
			return
		}
		in.cookie = c.Data
		if err := sa.sendInit(); err != nil {
			sa.die(err, false)
		}
		return
	}
	if n := m.Notify(wire.NotifyInvalidKEPayload); n != nil {
		g, _ := n.InvalidKEGroup()
		in.trace.InvalidKE = append(in.trace.InvalidKE, g)
		ok := false
		for _, x := range in.ike.DH {
			ok = ok || (x == g && g != DHNone)
		}
		if in.retries++; !ok || g == in.group || in.retries > maxInitRetries {
			sa.die(fmt.Errorf("ike: IKE_SA_INIT: peer asks for DH group %v: %w", g, &NotifyError{Type: wire.NotifyInvalidKEPayload, Exchange: wire.IKESAInit, Data: n.Data}), false)
			return
		}
		in.group = g
		if err := sa.sendInit(); err != nil {
			sa.die(err, false)
		}
		return
	}
	if err := errorNotify(m); err != nil {
		if req := requiredAddKE(in.offer(in.group)); req != "" && m.Notify(wire.NotifyNoProposalChosen) != nil {
			err = fmt.Errorf("%w; every proposal we offered requires %s", err, req)
		}
		sa.die(err, false)
		return
	}
	sap, _ := m.Get(wire.PayloadSA).(*wire.SA)
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Get(wire.PayloadNonce).(*wire.Nonce)
	if sap == nil || ke == nil || nonce == nil || m.SPIr.IsZero() {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT response from %v without %s", sa.remote, missing(sap == nil, "SA", ke == nil, "KE", nonce == nil, "Nonce", m.SPIr.IsZero(), "responder SPI")), false)
		return
	}
	if len(sap.Proposals) != 1 {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT response carries %d proposals, want 1", len(sap.Proposals)), false)
		return
	}
	if err := checkAddKEChoice(in.offer(in.group), sap.Proposals[0]); err != nil {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT: %w", err), false)
		return
	}
	sel, err := in.ike.Select(sap.Proposals)
	if err != nil {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT: peer chose a proposal we did not offer: %w", err), false)
		return
	}
	if sel.DH != in.group || ke.Group != in.group {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT: peer chose DH %v with KE %v, we sent %v", sel.DH, ke.Group, in.group), false)
		return
	}
	gir, err := sa.dh.SharedSecret(ke.Data)
	if err != nil {
		sa.die(err, false)
		return
	}
	sa.spir, sa.nr, sa.suite, sa.initR = m.SPIr, nonce.Data, sel.IKESuite(), m.Raw()
	sa.kes = keyExchangeRecord{sel.DH}
	if err := sa.deriveKeys(SKEYSEED(sel.PRF, sa.ni, sa.nr, gir)); err != nil {
		sa.die(err, false)
		return
	}
	sa.dh = nil
	in.trace.IKESuite = sa.suite
	nat := detectNAT(m, sa.local, sa.remote)
	in.trace.LocalBehindNAT, in.trace.RemoteBehindNAT = nat.LocalBehindNAT, nat.RemoteBehindNAT
	sa.behindNAT, sa.peerBehindNAT = nat.LocalBehindNAT, nat.RemoteBehindNAT
	// Forcing, we float even when the responder's hashes match: it saw
	// our fake source hash and expects ESP-in-UDP. A responder that sent
	// no NAT detection does not speak NAT-T: stay on raw ESP.
	sa.forceEncap = sa.e.cfg.ForceUDPEncap && nat.Checked
	if nat.LocalBehindNAT || nat.RemoteBehindNAT || sa.forceEncap {
		sa.moveToNATT()
		in.trace.NATT = true
	}
	sa.notePeerCaps(m)
	sa.peerCertReq = hasCertReq(m)
	in.trace.PeerSupportsFragments, in.trace.PeerCertReq = sa.peerFrag, sa.peerCertReq
	sa.addKE = chosenAddKE(sap.Proposals[0])
	if len(sa.addKE) > 0 && !sa.peerIntermediate {
		sa.die(fmt.Errorf("ike: IKE_SA_INIT: peer selected additional key exchanges %v without sending INTERMEDIATE_EXCHANGE_SUPPORTED", sa.addKE), false)
		return
	}
	sa.nextID = 1
	sa.setState(stAuthSent)
	if len(sa.addKE) > 0 {
		err = sa.sendIntermediate()
	} else {
		err = sa.sendAuth()
	}
	if err != nil {
		sa.die(err, false)
	}
}

// moveToNATT switches IKE to the NAT-T ports (RFC 7296 §2.23).
func (sa *ikeSA) moveToNATT() {
	sa.natt = true
	if sa.local.IsValid() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.e.cfg.NATTPort)
	}
	sa.remote = netip.AddrPortFrom(sa.remote.Addr(), NATTPort)
}

// errorNotify returns the first error notify of m as a *NotifyError.
func errorNotify(m *wire.Message) error {
	for _, p := range m.Payloads {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType.IsError() {
			return &NotifyError{Type: n.NotifyType, Exchange: m.Exchange, Data: n.Data}
		}
	}
	return nil
}

// isChildError reports whether an error notify in an IKE_AUTH response
// concerns only the CHILD SA (RFC 7296 §1.2: the IKE SA stays up).
func isChildError(t wire.NotifyType) bool {
	switch t {
	case wire.NotifyNoProposalChosen, wire.NotifyTSUnacceptable, wire.NotifySinglePairRequired, wire.NotifyInternalAddressFailure,
		wire.NotifyFailedCPRequired, wire.NotifyInvalidSelectors, wire.NotifyNoAdditionalSAs:
		return true
	}
	return false
}

// sendAuth sends the IKE_AUTH request with the first CHILD SA.
func (sa *ikeSA) sendAuth() error {
	e, in := sa.e, sa.init
	ctx, cancel := sa.callCtx()
	defer cancel()
	spi, err := e.cfg.Installer.AllocSPI(ctx, sa.remote.Addr(), sa.local.Addr())
	if err != nil {
		return fmt.Errorf("ike: allocate CHILD SA SPI: %w", err)
	}
	c := &childSA{childCore: childCore{SPIIn: spi, Initiator: true, Mode: in.opts.Mode}, state: childLarval}
	sa.addChild(c)
	in.child = c
	if in.opts.Auth == AuthKindCert {
		if err := sa.chooseInitiatorCert(in); err != nil {
			return err
		}
	}
	in.settleAddressRequest(sa.behindNAT)
	idi, err := sa.ourIdentity(in.opts.Auth)
	if err != nil {
		return err
	}
	sa.authMID = sa.nextID // the IKE_AUTH request is the next one sent
	auth, err := sa.makeAuth(in.opts.Auth, idi, pskPeer(in.opts))
	if err != nil {
		return err
	}
	// RFC 7296 §1.2: IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ+],
	// [IDr], AUTH, SA, TSi, TSr.
	ps := []wire.Payload{&wire.IDPayload{Identity: idi}}
	if in.opts.Auth == AuthKindCert {
		certs := sa.ourCertPayloads()
		in.trace.CertsSent = len(certs)
		ps = append(ps, certs...)
	}
	if in.opts.InitialContact {
		// Only while we hold no other IKE SA with the peer (contact.go).
		if e.holdsOtherSA(sa) {
			e.log.Debug("ike: INITIAL_CONTACT left out: another IKE SA with the peer exists", "remote", sa.remote, "peer", in.opts.PeerID)
		} else {
			ps = append(ps, &wire.Notify{NotifyType: wire.NotifyInitialContact})
		}
	}
	if peerAuthWanted(in.opts) == AuthKindCert && !in.opts.NoCertRequest {
		if req := sa.certRequest(); req != nil {
			ps = append(ps, req)
		}
	}
	switch {
	case in.opts.PeerID.Type != 0 && in.opts.Auth != AuthKindNull:
		ps = append(ps, &wire.IDPayload{Responder: true, Identity: in.opts.PeerID})
	case in.opts.Auth == AuthKindNull && (in.opts.PeerAuth == AuthKindNone || in.opts.PeerAuth == AuthKindNull):
		// IDr(ID_NULL): we want an anonymous responder (see
		// responderAuthKind), as Libreswan's authby=null conns ask.
		ps = append(ps, &wire.IDPayload{Responder: true, Identity: NullIdentity()})
	}
	ps = append(ps, auth)
	ps = append(ps, in.opts.RequestAddress.configRequest()...)
	if in.opts.Mode == ModeTransport {
		ps = append(ps, &wire.Notify{NotifyType: wire.NotifyUseTransportMode})
	}
	esp := in.esp.withoutAddKE()
	esp.DH = nil // no PFS in IKE_AUTH
	ps = append(ps,
		&wire.SA{Proposals: esp.Proposals(spiBytes(spi), DHNone)},
		&wire.TSPayload{Selectors: in.opts.TSi},
		&wire.TSPayload{Responder: true, Selectors: in.opts.TSr})
	sa.enqueue(&request{exch: wire.IKEAuth, payloads: ps, trace: &ExchangeTrace{}, onResponse: sa.onAuthResponse, onFail: sa.failInit})
	return nil
}

// onAuthResponse handles the IKE_AUTH response: the peer's identity and
// AUTH, then the CHILD SA.
func (sa *ikeSA) onAuthResponse(m *wire.Message) {
	in := sa.init
	if in == nil {
		return
	}
	var childErr error
	idr, _ := m.Get(wire.PayloadIDr).(*wire.IDPayload)
	auth, _ := m.Get(wire.PayloadAUTH).(*wire.Auth)
	if err := errorNotify(m); err != nil {
		var ne *NotifyError
		if errors.As(err, &ne) && isChildError(ne.Type) && idr != nil && auth != nil {
			childErr = err
		} else {
			sa.die(err, false)
			return
		}
	}
	if idr == nil || auth == nil {
		sa.sendDelete()
		sa.die(fmt.Errorf("ike: IKE_AUTH response from %v without %s", sa.remote, missing(idr == nil, "IDr", auth == nil, "AUTH")), false)
		return
	}
	in.trace.PeerID, in.trace.PeerAuthMethod, in.trace.PeerAuthScheme = idr.Identity, auth.Method, describeAuth(auth)
	kind := sa.peerAuthKind(m, auth)
	want := peerAuthWanted(in.opts)
	var err error
	switch {
	case kind != want:
		err = fmt.Errorf("ike: IKE_AUTH: peer %v authenticated with %v, want %v: %w: %w", sa.remote, auth.Method, want, ErrPeerAuthMethod, ErrAuthentication)
	case in.opts.PeerID.Type != 0 && kind != AuthKindNull && !SameIdentity(in.opts.PeerID, idr.Identity):
		err = fmt.Errorf("ike: IKE_AUTH: peer identity %v, want %v: %w", idr.Identity, in.opts.PeerID, ErrAuthentication)
	}
	if err != nil {
		sa.sendDelete()
		sa.die(err, false)
		return
	}
	sa.lookupKeys(m, kind, idr.Identity, func(pk peerKeys) { sa.finishAuthResponse(m, idr, auth, pk, childErr) })
}

// finishAuthResponse verifies the responder's AUTH once its keys are
// known, then completes the first CHILD SA.
func (sa *ikeSA) finishAuthResponse(m *wire.Message, idr *wire.IDPayload, auth *wire.Auth, pk peerKeys, childErr error) {
	in := sa.init
	if in == nil || sa.state != stAuthSent {
		return
	}
	kind := sa.peerAuthKind(m, auth)
	if _, err := sa.verifyPeerAuth(auth, kind, idr.Identity, pk); err != nil {
		sa.e.log.Info("ike: IKE_AUTH response refused", "remote", sa.remote, "peer", idr.Identity, "auth", kind, "err", err)
		sa.sendDelete()
		sa.die(err, false)
		return
	}
	in.trace.PeerAuthVerified, in.trace.PeerCert = true, sa.peerCert
	ni, nr := sa.ni, sa.nr // establish drops the handshake state
	sa.establish(idr.Identity, kind)
	c := in.child
	if childErr != nil {
		sa.dropChild(c, childErr)
		if cpRequired(childErr) && !in.opts.RequestAddress.any() {
			// The IKE SA cannot get a CHILD SA (CP goes only in
			// IKE_AUTH): delete it, and let the caller ask again with
			// an address request.
			sa.e.log.Info("ike: the responder requires an address request (FAILED_CP_REQUIRED)", "remote", sa.remote, "peer", idr.Identity)
			sa.sendDelete()
			sa.die(fmt.Errorf("ike: IKE_AUTH with %v: %w: %w", sa.remote, ErrCPRequired, childErr), false)
			return
		}
		sa.finishInit(ChildSAInfo{}, childErr)
		return
	}
	sa.acceptConfigReply(m, in.opts.RequestAddress)
	esp := in.esp.withoutAddKE()
	esp.DH = nil
	sel, err := sa.acceptChild(c, m, esp, in.opts.TSi, in.opts.TSr, in.opts.Mode, nil, ni, nr)
	if err != nil {
		sa.dropChild(c, err)
		if m.Get(wire.PayloadSA) != nil {
			// The peer installed its half; ask it to remove it.
			sa.enqueue(&request{exch: wire.Informational, payloads: []wire.Payload{&wire.Delete{Protocol: ProtocolESP, SPIs: [][]byte{spiBytes(c.SPIIn)}}},
				onResponse: func(*wire.Message) {}})
		}
		sa.finishInit(ChildSAInfo{}, err)
		return
	}
	in.trace.ESP = sel
	sa.finishInit(c.info(sa), nil)
}

// finishInit hands Initiate its result and drops the initiation state.
// The result goes out after the events already posted (the OnChildUp
// hook of the CHILD SA just installed), so that what Initiate's caller
// sees next already reflects the new SA.
func (sa *ikeSA) finishInit(info ChildSAInfo, err error) {
	if in := sa.init; in != nil {
		sa.init = nil
		sa.post(func() { in.finish(info, err) })
	}
}

func spiBytes(spi uint32) []byte {
	return []byte{byte(spi >> 24), byte(spi >> 16), byte(spi >> 8), byte(spi)}
}

func spiValue(b []byte) uint32 {
	if len(b) != 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
