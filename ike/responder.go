package ike

import (
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// handleAuthRequest answers IKE_AUTH as responder: verify the peer, ask
// the policy, authenticate ourselves with the same class of method, and
// negotiate the first CHILD SA. A CHILD SA failure leaves the IKE SA up
// (RFC 7296 §1.2).
func (sa *ikeSA) handleAuthRequest(m *wire.Message) {
	e := sa.e
	idi, _ := m.Get(wire.PayloadIDi).(*wire.IDPayload)
	auth, _ := m.Get(wire.PayloadAUTH).(*wire.Auth)
	if idi == nil || auth == nil {
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInvalidSyntax}})
		sa.die(fmt.Errorf("ike: IKE_AUTH request from %v without %s", sa.remote, missing(idi == nil, "IDi", auth == nil, "AUTH")), true)
		return
	}
	fail := func(t wire.NotifyType, err error) {
		e.log.Info("ike: IKE_AUTH refused", "remote", sa.remote, "peer", idi.Identity, "notify", t, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: t}})
		sa.die(err, true) // linger: a retransmitted request gets the same refusal
	}
	if sa.addKEDone < len(sa.addKE) {
		fail(wire.NotifyInvalidSyntax, fmt.Errorf("ike: IKE_AUTH request from %v after %d of %d additional key exchanges", sa.remote, sa.addKEDone, len(sa.addKE)))
		return
	}
	sa.authMID, sa.retransmitCin = m.MessageID, nil
	kind := sa.peerAuthKind(m, auth)
	sa.peerCertReq = hasCertReq(m)
	// The peer's negotiation, not one of ours: no caller's context.
	ctx, cancel := e.lookups.get()
	defer cancel()
	if err := e.cfg.Policy.AcceptAuth(ctx, AuthRequest{PeerID: idi.Identity, Remote: sa.remote.Addr(), Local: sa.local.Addr(), Kind: kind}); err != nil {
		fail(notifyFor(err, wire.NotifyAuthenticationFailed), fmt.Errorf("ike: policy refuses %v authentication from %v: %w", kind, idi.Identity, err))
		return
	}
	sa.lookupKeys(m, kind, idi.Identity, func(pk peerKeys) { sa.finishAuthRequest(m, idi, auth, pk) })
}

// finishAuthRequest verifies the peer's AUTH once its keys are known and
// answers IKE_AUTH.
func (sa *ikeSA) finishAuthRequest(m *wire.Message, idi *wire.IDPayload, auth *wire.Auth, pk peerKeys) {
	e := sa.e
	if sa.state != stHalfOpen {
		return
	}
	kind := sa.peerAuthKind(m, auth)
	fail := func(t wire.NotifyType, err error) {
		e.log.Info("ike: IKE_AUTH refused", "remote", sa.remote, "peer", idi.Identity, "notify", t, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: t}})
		sa.die(err, true) // linger: a retransmitted request gets the same refusal
	}
	if _, err := sa.verifyInitiatorAuth(auth, kind, idi.Identity, pk); err != nil {
		t := wire.NotifyAuthenticationFailed
		if errors.Is(err, errTemporary) {
			t = wire.NotifyTemporaryFailure
		}
		fail(t, err)
		return
	}
	ourKind := sa.responderAuthKind(m, AuthRequest{PeerID: idi.Identity, Remote: sa.remote.Addr(), Local: sa.local.Addr(), Kind: kind})
	if ourKind == AuthKindCert {
		if err := sa.chooseResponderCert(m, kind); err != nil {
			fail(wire.NotifyAuthenticationFailed, err)
			return
		}
	}
	if f := e.cfg.Credentials.IDFor; f != nil && (ourKind == AuthKindPubkey || ourKind == AuthKindPSK) {
		var named Identity
		if p, ok := m.Get(wire.PayloadIDr).(*wire.IDPayload); ok {
			named = p.Identity
		}
		if id, ok := f(idi.Identity, sa.remote.Addr(), named); ok {
			sa.localID = identityRef(id)
		}
	}
	idr, err := sa.ourIdentity(ourKind)
	if err != nil {
		fail(wire.NotifyAuthenticationFailed, err)
		return
	}
	ourAuth, err := sa.makeAuth(ourKind, idr, idi.Identity)
	if err != nil {
		fail(wire.NotifyAuthenticationFailed, fmt.Errorf("ike: cannot answer %v authentication: %w", ourKind, err))
		return
	}
	if m.Notify(wire.NotifyInitialContact) != nil && namesUs(m, idr) {
		peer, self, begun := idi.Identity, sa, sa.begun
		sa.post(func() { e.initialContact(peer, idr, self, begun) })
	}
	if kind == AuthKindNull {
		if err := sa.admitNull(); err != nil {
			fail(wire.NotifyAuthenticationFailed, err)
			return
		}
	}
	ni, nr := sa.ni, sa.nr
	sa.establish(idi.Identity, kind)
	// RFC 7296 §1.2: IDr, [CERT+], AUTH, then [CP] and the CHILD SA's payloads.
	// Room for the usual answer (IDr, AUTH, CP, then the CHILD SA's
	// mode notify, SA, TSi and TSr), so that it is not grown twice; a
	// certificate chain may still grow it.
	resp := make([]wire.Payload, 0, 8)
	resp = append(resp, &wire.IDPayload{Responder: true, Identity: idr})
	if ourKind == AuthKindCert {
		resp = append(resp, sa.ourCertPayloads()...)
	}
	resp = append(resp, ourAuth)
	cp, err := sa.serveConfigRequest(m)
	if err != nil {
		// The IKE SA stands; its first CHILD SA does not (RFC 7296 §1.2).
		e.log.Info("ike: CHILD SA refused in IKE_AUTH", "remote", sa.remote, "peer", sa.peerID, "err", err)
		sa.respond(m, append(resp, &wire.Notify{NotifyType: wire.NotifyInternalAddressFailure}))
		return
	}
	if cp != nil {
		resp = append(resp, cp)
	}
	esp := e.cfg.ESP.withoutAddKE() // IKE_AUTH has no key exchange for its CHILD SA
	esp.DH = nil
	child, childPs, err := sa.negotiateChild(m, esp, nil, ni, nr, nil)
	if err != nil {
		e.log.Info("ike: CHILD SA refused in IKE_AUTH", "remote", sa.remote, "peer", sa.peerID, "err", err)
	}
	resp = append(resp, childPs...)
	sa.respond(m, resp)
	_ = child
}

// notifyFor picks the notify for a policy error: the one it wraps, or def.
func notifyFor(err error, def wire.NotifyType) wire.NotifyType {
	var ne *NotifyError
	if errors.As(err, &ne) {
		return ne.Type
	}
	return def
}

// responderAuthKind is how we authenticate to an initiator that used
// kind: with the same class, except that a NULL-authenticating initiator
// that names no responder ID (no IDr) and accepts signatures
// (SIGNATURE_HASH_ALGORITHMS) gets a signature when we have a key.
// That is asymmetric OE (RFC 7619 §3), in two forms:
//   - certificate OE: with a default certificate (Credentials.Cert, never
//     one of Credentials.Certs) we sign with its key and send it, when
//     the initiator asked for a certificate (CERTREQ), or we have no raw
//     key, or EngineConfig.CertOEAlways says to answer every one so.
//     Libreswan's certificate OE client (leftauth=null,
//     rightauth=rsasig, rightid=%fromcert) sends no CERTREQ, so a host
//     with a raw key reaches it only with CertOEAlways; its server
//     answers with leftid=%fromcert, the certificate's subject DN, which
//     is CertCredential's default ID;
//   - DNS OE: otherwise our raw key's signature (Credentials.Signer);
//     Libreswan's DNSSEC OE client (rightrsasigkey=%dnsondemand) verifies
//     it with our key from DNS, and sends no CERTREQ either.
//
// An initiator that wants an anonymous responder says so with
// IDr(ID_NULL), as Libreswan's authby=null conns and our own NULL
// initiator do. The policy may keep NULL (NullSignPolicy), e.g. for a
// configured conn with NULL authentication.
func (sa *ikeSA) responderAuthKind(m *wire.Message, req AuthRequest) AuthKind {
	cred, cert := sa.e.cfg.Credentials, sa.e.hasDefaultCert()
	if req.Kind != AuthKindNull || (cred.Signer == nil && !cert) || len(sa.hashes) == 0 {
		return req.Kind
	}
	if _, named := m.Get(wire.PayloadIDr).(*wire.IDPayload); named {
		return req.Kind
	}
	if p, ok := sa.e.cfg.Policy.(NullSignPolicy); ok && !p.SignForNull(req) {
		return req.Kind
	}
	if cert && (sa.peerCertReq || cred.Signer == nil || sa.e.cfg.CertOEAlways) {
		return AuthKindCert
	}
	return AuthKindPubkey
}
