package ike

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// This file runs RFC 9370's additional key exchanges for CREATE_CHILD_SA
// (§2.2.4): a rekey of the IKE SA or of a CHILD SA, or a new CHILD SA,
// whose chosen proposal has ADDKE methods. The CREATE_CHILD_SA exchange
// carries the KE of transform type 4 as always; then one IKE_FOLLOWUP_KE
// exchange per additional method, in ADDKE order:
//
//	CREATE_CHILD_SA  request  SA Ni KEi [N(REKEY_SA)] [TSi TSr]
//	                 response SA Nr KEr [TSi TSr] N(ADDITIONAL_KEY_EXCHANGE)(link1)
//	IKE_FOLLOWUP_KE  request  KEi(1) N(ADDITIONAL_KEY_EXCHANGE)(link1)
//	                 response KEr(1) [N(ADDITIONAL_KEY_EXCHANGE)(link2)]
//	...
//
// The responder chooses the link data and sends it while exchanges
// remain; the initiator echoes it. The new SA exists only once the last
// exchange is done; its keys come from all the shared secrets, SK(0) of
// CREATE_CHILD_SA's KE and SK(1) to SK(n) of the follow-ups:
//
//	IKE SA rekey: SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n))
//	CHILD SA:     KEYMAT   = prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n))
//
// (RekeySKEYSEED and ChildSuite.DeriveChildKeys take SK(1) to SK(n) as
// their add arguments). All these exchanges are protected by the IKE SA's
// keys, which do not change, and take message IDs and retransmissions
// like any other request.
//
// The responder keeps at most one such exchange under way per IKE SA
// (followupResp); it is dropped, with whatever it prepared (the larval
// CHILD SA and its SPI), when the last follow-up fails, when a follow-up
// names other link data or none (STATE_NOT_FOUND), when the peer starts
// another CREATE_CHILD_SA instead, when no follow-up arrives within the
// give-up time, and when the IKE SA goes.

// followupResp is the responder's side of a CREATE_CHILD_SA whose
// additional key exchanges are under way.
type followupResp struct {
	what    string    // "CHILD SA", "CHILD SA rekey", "IKE SA rekey": for logs
	methods []DHGroup // ADDKE order, NONE left out
	secrets [][]byte  // SK(1).. of the exchanges done
	link    []byte    // the link data the next request must carry
	// complete builds the new SA from all the secrets once the last
	// exchange is done. after, when set, runs once the response is out.
	complete func(add [][]byte) (after func(), err error)
	// abort drops what CREATE_CHILD_SA prepared. May be nil.
	abort func(err error)
	timer *schedTimer
}

// linkLen is the size of the link data we choose.
const linkLen = 8

// errFollowupTimeout is why a responder drops an exchange whose next
// IKE_FOLLOWUP_KE did not come.
var errFollowupTimeout = errors.New("ike: no IKE_FOLLOWUP_KE request within the give-up time")

// startFollowupResp records, as responder, a CREATE_CHILD_SA whose chosen
// proposal has the additional exchanges methods, and returns the notify
// that links the first IKE_FOLLOWUP_KE to it, for the response.
func (sa *ikeSA) startFollowupResp(f *followupResp) (*wire.Notify, error) {
	sa.dropFollowup(errors.New("ike: the peer started another CREATE_CHILD_SA"))
	link, err := sa.e.randomBytes(linkLen)
	if err != nil {
		if f.abort != nil {
			f.abort(err)
		}
		return nil, err
	}
	f.link = link
	sa.followup = f
	sa.armFollowupTimer(f)
	sa.e.log.Debug("ike: additional key exchanges to follow", "remote", sa.remote, "what", f.what, "methods", names(f.methods))
	return &wire.Notify{NotifyType: wire.NotifyAdditionalKeyExchange, Data: link}, nil
}

func (sa *ikeSA) armFollowupTimer(f *followupResp) {
	if f.timer != nil {
		f.timer.Stop()
	}
	f.timer = sa.e.sched.AfterFunc(sa.e.cfg.GiveUp, func() {
		sa.lock()
		defer sa.unlock()
		if sa.followup == f {
			sa.e.log.Info("ike: additional key exchange abandoned", "remote", sa.remote, "what", f.what, "err", errFollowupTimeout)
			sa.dropFollowup(errFollowupTimeout)
		}
	})
}

// dropFollowup forgets the responder's exchange under way, if any, and
// what it prepared.
func (sa *ikeSA) dropFollowup(err error) {
	f := sa.followup
	if f == nil {
		return
	}
	sa.followup = nil
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if f.abort != nil {
		f.abort(err)
	}
}

// handleFollowupRequest answers, as responder, an IKE_FOLLOWUP_KE request.
func (sa *ikeSA) handleFollowupRequest(m *wire.Message) {
	e := sa.e
	f := sa.followup
	fail := func(t wire.NotifyType, err error) {
		e.log.Info("ike: IKE_FOLLOWUP_KE refused", "remote", sa.remote, "notify", t, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: t}})
		sa.dropFollowup(err)
	}
	n := m.Notify(wire.NotifyAdditionalKeyExchange)
	switch {
	case f == nil:
		fail(wire.NotifyStateNotFound, fmt.Errorf("ike: IKE_FOLLOWUP_KE request %d from %v, but no additional key exchange is under way", m.MessageID, sa.remote))
		return
	case n == nil:
		fail(wire.NotifyStateNotFound, fmt.Errorf("ike: IKE_FOLLOWUP_KE request %d from %v without ADDITIONAL_KEY_EXCHANGE", m.MessageID, sa.remote))
		return
	case subtle.ConstantTimeCompare(n.Data, f.link) != 1:
		fail(wire.NotifyStateNotFound, fmt.Errorf("ike: IKE_FOLLOWUP_KE request %d from %v links to %x, the exchange under way is %x", m.MessageID, sa.remote, n.Data, f.link))
		return
	}
	i := len(f.secrets)
	g := f.methods[i]
	ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
	if ke == nil || ke.Group != g {
		fail(wire.NotifyInvalidSyntax, fmt.Errorf("ike: IKE_FOLLOWUP_KE request from %v for the %s: want a KE payload for additional exchange %d, %v", sa.remote, f.what, i+1, g))
		return
	}
	ours, secret, err := RespondKeyExchange(g, ke.Data, e.cfg.Rand)
	if err != nil {
		t := wire.NotifyNoProposalChosen
		if errors.Is(err, ErrInvalidKE) {
			t = wire.NotifyInvalidSyntax
		}
		fail(t, fmt.Errorf("ike: IKE_FOLLOWUP_KE request from %v for the %s, additional exchange %d %v: %w", sa.remote, f.what, i+1, g, err))
		return
	}
	f.secrets = append(f.secrets, secret)
	if len(f.secrets) < len(f.methods) {
		link, err := e.randomBytes(linkLen)
		if err != nil {
			fail(wire.NotifyNoProposalChosen, err)
			return
		}
		f.link = link
		sa.armFollowupTimer(f)
		sa.respond(m, []wire.Payload{&wire.KE{Group: g, Data: ours}, &wire.Notify{NotifyType: wire.NotifyAdditionalKeyExchange, Data: link}})
		return
	}
	// The last one: the new SA is complete.
	sa.followup = nil
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	after, err := f.complete(f.secrets)
	if err != nil {
		e.log.Info("ike: IKE_FOLLOWUP_KE: the new SA failed", "remote", sa.remote, "what", f.what, "err", err)
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: notifyFor(err, wire.NotifyNoProposalChosen)}})
		if f.abort != nil {
			f.abort(err)
		}
		return
	}
	sa.respond(m, []wire.Payload{&wire.KE{Group: g, Data: ours}})
	if after != nil {
		after()
	}
}

// runFollowups runs, as initiator, the additional key exchanges methods
// that the CREATE_CHILD_SA response resp chose, one IKE_FOLLOWUP_KE each,
// ahead of any other request we have queued. finish gets their shared
// secrets, in order, once all are done; fail is told why they stopped.
func (sa *ikeSA) runFollowups(what string, methods []DHGroup, resp *wire.Message, finish func(add [][]byte), fail func(err error)) {
	n := resp.Notify(wire.NotifyAdditionalKeyExchange)
	if n == nil {
		fail(fmt.Errorf("ike: CREATE_CHILD_SA response from %v for the %s chose additional key exchanges %v without ADDITIONAL_KEY_EXCHANGE", sa.remote, what, names(methods)))
		return
	}
	sa.sendFollowup(what, methods, nil, n.Data, finish, fail)
}

func (sa *ikeSA) sendFollowup(what string, methods []DHGroup, secrets [][]byte, link []byte, finish func(add [][]byte), fail func(err error)) {
	i := len(secrets)
	g := methods[i]
	kx, err := StartKeyExchange(g, sa.e.cfg.Rand)
	if err != nil {
		fail(fmt.Errorf("ike: %s, additional exchange %d %v: %w", what, i+1, g, err))
		return
	}
	sa.e.log.Debug("ike: IKE_FOLLOWUP_KE", "remote", sa.remote, "what", what, "exchange", i+1, "method", g)
	sa.enqueueFirst(&request{exch: wire.IKEFollowupKE,
		payloads: []wire.Payload{&wire.KE{Group: g, Data: kx.Public()}, &wire.Notify{NotifyType: wire.NotifyAdditionalKeyExchange, Data: link}},
		onFail:   fail,
		onResponse: func(m *wire.Message) {
			if err := errorNotify(m); err != nil {
				fail(fmt.Errorf("ike: IKE_FOLLOWUP_KE for the %s, additional exchange %d %v: %w", what, i+1, g, err))
				return
			}
			ke, _ := m.Get(wire.PayloadKE).(*wire.KE)
			if ke == nil || ke.Group != g {
				fail(fmt.Errorf("ike: IKE_FOLLOWUP_KE response from %v for the %s without its KE payload for %v", sa.remote, what, g))
				return
			}
			secret, err := kx.SharedSecret(ke.Data)
			if err != nil {
				fail(fmt.Errorf("ike: IKE_FOLLOWUP_KE for the %s, additional exchange %d %v: %w", what, i+1, g, err))
				return
			}
			secrets := append(secrets, secret)
			if len(secrets) == len(methods) {
				finish(secrets)
				return
			}
			n := m.Notify(wire.NotifyAdditionalKeyExchange)
			if n == nil {
				fail(fmt.Errorf("ike: IKE_FOLLOWUP_KE response from %v for the %s: %d exchanges remain, no ADDITIONAL_KEY_EXCHANGE", sa.remote, what, len(methods)-len(secrets)))
				return
			}
			sa.sendFollowup(what, methods, secrets, n.Data, finish, fail)
		}})
}

// enqueueFirst puts r at the head of the queue: an IKE_FOLLOWUP_KE goes
// out right after the exchange it follows.
func (sa *ikeSA) enqueueFirst(r *request) {
	sa.queue = append([]*request{r}, sa.queue...)
	sa.pump()
}

// rekeyOffer is the policy p as a rekey by us offers it. Without classical
// it is p, additional key exchanges included. With classical, after a
// peer answered that offer NO_PROPOSAL_CHOSEN, the additional exchanges go
// when the SA being rekeyed had none: a peer without RFC 9370's
// IKE_FOLLOWUP_KE then rekeys as the SA was negotiated (RFC 9370 §2.2.4).
// An SA that had them does not lose them that way.
func rekeyOffer(p Policy, classical bool) Policy {
	if classical {
		return p.withoutAddKE()
	}
	return p
}

// fallBackClassical reports whether an answer to a rekey we offered with
// pol calls for the classical retry: NO_PROPOSAL_CHOSEN to an offer with
// additional key exchanges, for an SA that had none (had lists them).
func fallBackClassical(m *wire.Message, pol Policy, had []DHGroup, retried bool) bool {
	return !retried && len(had) == 0 && pol.hasAddKEMethods() && m.Notify(wire.NotifyNoProposalChosen) != nil
}
