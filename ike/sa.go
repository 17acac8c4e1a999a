package ike

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// ikeSA is the state of one IKE SA, initiator or responder side. Every
// field is guarded by mu; the engine's map only finds it.
type ikeSA struct {
	e  *Engine
	mu sync.Mutex

	spii SPI
	spir SPI

	local, remote netip.AddrPort

	suite IKESuite
	skd   []byte    // SK_d, kept for CHILD SA keys and IKE rekey
	cin   *SKCipher // protects what we receive
	cout  *SKCipher // protects what we send

	// *handshake holds what only IKE_SA_INIT and IKE_AUTH need; it is
	// nil once the SA is established, which keeps idle SAs small.
	*handshake

	peerID Identity
	// localID is the identity we claim on this SA when it is not
	// Credentials.ID (InitiateOptions.LocalID, Credentials.IDFor); nil:
	// Credentials.ID. A pointer: OE never sets it, and every SA carries
	// the field (TestSASize).
	localID     *Identity
	established stamp // zero until established

	// Message IDs (window size 1 both ways).
	nextID   uint32                // ID of our next request
	peerNext uint32                // ID of the next request we expect
	pending  *request              // our outstanding request
	queue    []*request            // requests waiting for the window
	lastResp [][]byte              // datagrams answering request peerNext-1
	reasm    *[2]*wire.Reassembler // responses, requests; only while fragments arrive

	children []*childSA // few per SA: a slice is smaller than a map

	// vip is the mode config state, nil without it (modecfg.go).
	vip *virtualIPs

	// kes records the key exchanges that keyed the SA, each added by
	// ranKeyExchange as its exchange completes (keyexchanges.go).
	kes keyExchangeRecord

	// Initiator-only negotiation inputs and result channel.
	init *initiation

	// Rekey state: the SA that replaces this one, or that this one
	// replaces; see rekey.go.
	rekey *ikeRekey
	// followup is the peer's CREATE_CHILD_SA whose additional key
	// exchanges are under way (exchange_followup.go).
	followup *followupResp

	half *halfOpenKey // the IKE_SA_INIT entry of a responder SA, for a while

	// peer and peerGone are guarded by Engine.mu, not mu (contact.go).
	peer peerRef
	// peerCert is the certificate the peer authenticated with.
	peerCert *PeerCertificate
	// cert is the certificate we authenticate with, chosen when our
	// IKE_AUTH message is built (certselect.go).
	cert *ourCert

	lastRecv stamp
	// null is its entry among the counted NULL SAs, nil if not counted
	// (nullcap.go).
	null   *nullEntry
	timers saTimers
	events []func() // run after mu is released; see unlock

	// The small fields together, so that they share words.
	state         ikeState
	peerAuth      AuthKind
	initiator     bool // we are the original initiator of this SA
	natt          bool // IKE uses the NAT-T ports
	behindNAT     bool // we are behind a NAT: send keepalives
	peerBehindNAT bool
	forceEncap    bool // EngineConfig.ForceUDPEncap with a NAT-T peer: ESP-in-UDP without a NAT
	peerFrag      bool // peer sent IKEV2_FRAGMENTATION_SUPPORTED
	peerCertReq   bool // peer sent an X.509 CERTREQ (cert.go)
	replaced      bool // its CHILD SAs moved to a successor: no OnIKEDown
	halfCounted   bool // counted as half open
	lookup        bool // a KeyResolver lookup for IKE_AUTH is under way
	peerGone      bool // the SA died: Engine.mu guards it (contact.go)
	addrIndexed   bool // in Engine.byAddr: Engine.mu guards it (peeraddrindex.go)
	// addrNext and idNext are the next SA with the same peer address in
	// Engine.byAddr and with the same peer identity in Engine.byPeerID;
	// Engine.mu guards them.
	addrNext, idNext *ikeSA
}

// handshake is the part of an SA's state that authentication needs.
type handshake struct {
	ni, nr     []byte
	initI      []byte      // IKE_SA_INIT request as sent
	initR      []byte      // IKE_SA_INIT response as sent
	dh         KeyExchange // initiator, until the IKE_SA_INIT response
	skpi, skpr []byte
	hashes     []HashAlgorithm // the peer's SIGNATURE_HASH_ALGORITHMS
	// The additional key exchanges of RFC 9370 (exchange_intermediate.go).
	peerIntermediate bool         // peer sent INTERMEDIATE_EXCHANGE_SUPPORTED
	addKE            []DHGroup    // methods chosen, in ADDKE order, NONE left out
	addKEDone        int          // how many of them have run
	intAuth          intAuthChain // RFC 9242 §3.3.2, folded into AUTH
	authMID          uint32       // Message ID of the IKE_AUTH request
	// retransmitCin checks retransmissions of the last request answered
	// when the keys changed after it (the responder's IKE_INTERMEDIATE).
	retransmitCin *SKCipher
	begun         uint64 // responder: the engine's sequence when IKE_SA_INIT was answered (contact.go)
}

// saTimers are the timers an SA owns; stopTimers stops them all.
type saTimers struct {
	liveness, keepalive, rekey, expire, halfOpen *schedTimer
	// livenessEvery is this SA's liveness interval: the configured one
	// less a random part (livenessSpread), so that SAs made together
	// do not all check their peers together.
	livenessEvery time.Duration
}

func (sa *ikeSA) stopTimers() {
	for _, t := range []**schedTimer{&sa.timers.liveness, &sa.timers.keepalive, &sa.timers.rekey, &sa.timers.expire, &sa.timers.halfOpen} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
}

// ourSPI is the SPI the engine's map knows this SA by.
func (sa *ikeSA) ourSPI() SPI {
	if sa.initiator {
		return sa.spii
	}
	return sa.spir
}

func (sa *ikeSA) id() SAID { return SAID{SPIi: sa.spii, SPIr: sa.spir} }

// childSA is one CHILD SA pair of an IKE SA.
type childSA struct {
	childCore // ChildSA without the keys (childcore.go)
	state     childState
	pfs       DHGroup
	addKE     []DHGroup   // additional key exchanges its keys came from (IKE_FOLLOWUP_KE)
	timer     *schedTimer // soft then hard end of the lifetime
	// rekey collision bookkeeping (RFC 7296 §2.8.1)
	rekeying   *childRekey
	replacedBy uint32
}

func (c *childSA) stopTimers() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

func (c *childSA) info(sa *ikeSA) ChildSAInfo {
	return ChildSAInfo{
		IKE: sa.id(), SPIIn: c.SPIIn, SPIOut: c.SPIOut, Mode: c.Mode,
		TSLocal: c.TSLocal, TSRemote: c.TSRemote, Encr: c.Encr, Integ: c.Integ, ESN: c.ESN,
		PFS: c.pfs, Encap: c.Encap, PeerID: c.PeerID,
		VirtualIPs: sa.virtualIPs(),
	}
}

func (sa *ikeSA) info() SAInfo {
	in := SAInfo{
		ID: sa.id(), Initiator: sa.initiator, State: sa.state.String(),
		Local: sa.local, Remote: sa.remote, PeerID: sa.peerID, PeerAuth: sa.peerAuth, PeerCert: sa.peerCert,
		Suite: sa.suite, KeyExchanges: sa.kes.list(),
		NATT: sa.natt, BehindNAT: sa.behindNAT, Established: sa.e.timeOf(sa.established),
		VirtualIPs: sa.virtualIPs(),
	}
	for _, c := range sa.children {
		if c.state == childInstalled {
			in.Children = append(in.Children, c.info(sa))
		}
	}
	return in
}

// die removes the SA: it fails what is pending, removes its CHILD SAs from
// the data plane, stops its timers and forgets it. It does not tell the
// peer; callers that should have sent a Delete first. With linger the SA
// stays findable for the give-up time, answering only retransmissions of
// the request it last answered (the peer's Delete, whose answer may be
// lost). Called with sa.mu held.
func (sa *ikeSA) die(err error, linger bool) {
	if sa.state == stDead {
		return
	}
	wasUp := sa.established != 0
	sa.setState(stDead)
	sa.e.notePeerGone(sa)
	if sa.null != nil {
		sa.e.null.remove(sa)
	}
	sa.stopTimers()
	reqs := sa.queue
	if sa.pending != nil {
		if sa.pending.timer != nil {
			sa.pending.timer.Stop()
		}
		reqs = append([]*request{sa.pending}, reqs...)
	}
	sa.pending, sa.queue = nil, nil
	for _, r := range reqs {
		if r.onFail != nil {
			r.onFail(err)
		}
	}
	sa.dropFollowup(err)
	for _, c := range sa.children {
		sa.removeChild(c, err)
		sa.e.childIdx.forget(c.SPIIn, sa)
	}
	sa.children = nil
	sa.releaseAddresses()
	if sa.init != nil {
		sa.init.finish(ChildSAInfo{}, err)
	}
	if linger && sa.lastResp != nil {
		sa.e.leaveHalfOpen(sa)
		sa.timers.expire = sa.e.sched.AfterFunc(sa.e.cfg.GiveUp, func() {
			sa.lock()
			defer sa.unlock()
			sa.e.forget(sa)
			sa.cin, sa.lastResp = nil, nil
		})
	} else {
		sa.e.forget(sa)
	}
	if wasUp {
		sa.e.stats.add(&sa.e.stats.ikeDown)
		if f := sa.e.cfg.OnIKEDown; f != nil && !sa.replaced {
			info := sa.info()
			sa.post(func() { f(info, err) })
		}
	}
	if sa.e.debugOn() {
		sa.e.log.Debug("ike: IKE SA removed", "spi_i", sa.spii, "spi_r", sa.spir, "remote", sa.remote, "reason", err)
	}
	// Free what we no longer need early: an SA may linger in a timer.
	sa.skd, sa.handshake, sa.cout, sa.reasm = nil, nil, nil, nil
	if !linger {
		sa.cin, sa.lastResp = nil, nil
	}
}

// removeChild takes c out of the data plane (if it got there) and reports
// it down. It does not touch sa.children.
func (sa *ikeSA) removeChild(c *childSA, err error) {
	if c.state == childDead {
		return
	}
	wasUp := c.state == childInstalled || c.state == childRekeyed || c.state == childDeleting
	sa.setChildState(c, childDead)
	c.stopTimers()
	// Never the initiation's context: an initiation that failed or was
	// abandoned (its context ended) must still give its SPI back.
	ctx, cancel := sa.e.calls.get()
	defer cancel()
	if derr := sa.e.cfg.Installer.Delete(ctx, c.public(childKeys{})); derr != nil {
		sa.e.log.Warn("ike: data plane delete failed", "spi_in", c.SPIIn, "spi_out", c.SPIOut, "err", derr)
	}
	if wasUp {
		sa.e.stats.add(&sa.e.stats.childDown)
		if f := sa.e.cfg.OnChildDown; f != nil {
			info := c.info(sa)
			sa.post(func() { f(info, err) })
		}
	}
}

// dropChild removes c from sa.children and from the data plane.
func (sa *ikeSA) dropChild(c *childSA, err error) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			sa.e.childIdx.forget(c.SPIIn, sa)
			break
		}
	}
	sa.removeChild(c, err)
}

// childByIn and childByOut find a CHILD SA by its inbound or outbound SPI.
func (sa *ikeSA) childByIn(spi uint32) *childSA {
	for _, c := range sa.children {
		if c.SPIIn == spi {
			return c
		}
	}
	return nil
}

func (sa *ikeSA) childByOut(spi uint32) *childSA {
	for _, c := range sa.children {
		if c.SPIOut == spi && c.state != childDead {
			return c
		}
	}
	return nil
}

// installTimeout bounds one call into the data plane made for the
// engine's own work (callCtx); an initiation's calls have its caller's
// deadline instead.
const installTimeout = 5 * time.Second

// callCtx is the context of a call into the data plane or the policy made
// for sa now. While an initiation is under way (Initiate waits for it)
// it is the initiation's own context, with the caller's deadline and
// cancel cause: cancelling the negotiation reaches AllocSPI and Install.
// Otherwise the call is the engine's own work (the peer's exchanges,
// rekeys), bounded by installTimeout within the engine's lifetime.
// Called with sa.mu held.
func (sa *ikeSA) callCtx() (context.Context, context.CancelFunc) {
	if in := sa.init; in != nil && in.ctx != nil {
		return in.ctx, func() {}
	}
	return sa.e.calls.get()
}

// identityRef is id for ikeSA.localID: nil for the zero Identity.
func identityRef(id Identity) *Identity {
	if id.Type == 0 {
		return nil
	}
	return &id
}
