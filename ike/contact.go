package ike

import (
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// INITIAL_CONTACT (RFC 7296 §2.4) asserts that the IKE SA carrying it is
// the only one between the two authenticated identities: the sender has
// restarted and forgotten any other, and the receiver may delete them
// without telling it. Sent or honoured too broadly it kills live SAs: a
// second flow to a peer we already have an IKE SA with (a second address
// of the peer, a second client behind the same gateway) sets up its own
// IKE SA (oe/tunnel/table.go says why not a CHILD SA of the first), and if
// that one carried INITIAL_CONTACT the peer would drop the first, silently,
// while we keep sending into it. Two rules keep it narrow, one per side,
// so that neither side's timing can defeat them:
//
//   - Sending: InitiateOptions.InitialContact is a request. sendAuth
//     sends the notify only when, at that moment, the engine holds no
//     other IKE SA with the peer in any state: established, being rekeyed
//     or deleted, being set up by us, or half open with the peer as
//     initiator (matched by the peer's address, or by the identity asked
//     for or proven).
//   - Receiving: initialContact deletes only the SAs between the same two
//     identities (the peer's and ours: a host with several addresses has
//     an identity per address unless Credentials.ID names one) that were
//     established before the IKE_SA_INIT request of the SA carrying the
//     notify arrived. An SA established later was set up with the peer
//     after its restart, so it is live; this covers the peer setting up an
//     SA toward us while its notify-bearing IKE_AUTH is under way. A
//     notify from an initiator that named another responder (IDr) than us
//     is ignored: its assertion is about that identity, and it will refuse
//     our AUTH anyway (an OE host reaching our second address before DNS
//     told it that we are that address's gateway).
//
// The engine's table lock guards peerRef and peerGone, so that the
// sending check can look at every SA while holding one SA's lock: taking
// the other SAs' locks there would deadlock two SAs checking each other
// at once.

// peerRef is what the engine knows of an SA's peer and when the SA was
// established, readable under Engine.mu without the SA's own lock. With
// ikeSA.peerGone (kept among the SA's small fields, where it costs no
// space) it is all the rules above need; handshake.begun orders a
// responder SA's start.
type peerRef struct {
	addr netip.Addr // the peer's address (unmapped)
	id   Identity   // the identity we asked for (initiator) or the peer proved; zero while unknown
	up   uint64     // the engine's sequence when the SA was established; 0: not yet
}

// samePeer reports whether two SAs' peers are the same, as far as the
// sending rule is concerned: the same address or the same identity.
func (p peerRef) samePeer(q peerRef) bool {
	if p.addr.IsValid() && p.addr == q.addr {
		return true
	}
	return p.id.Type != 0 && p.id.Type != IDNull && SameIdentity(p.id, q.id)
}

// nextSeqLocked returns the next value of the engine's sequence. e.mu is
// held.
func (e *Engine) nextSeqLocked() uint64 {
	e.seq++
	return e.seq
}

// register makes sa findable by our SPI and records its peer.
func (e *Engine) register(sa *ikeSA) {
	ref := peerRef{addr: sa.remote.Addr().Unmap(), id: sa.peerID}
	if sa.init != nil {
		ref.id = sa.init.opts.PeerID
	}
	e.mu.Lock()
	e.unindexPeerLocked(sa)
	e.unindexAddrLocked(sa) // its peer may change; addSALocked puts it back
	if sa.established != 0 {
		ref.up = e.nextSeqLocked() // an IKE rekey's successor
	}
	sa.peer = ref
	e.addSALocked(sa)
	e.indexPeerLocked(sa)
	e.mu.Unlock()
}

// notePeerUp records that sa is established with the peer proving id.
func (e *Engine) notePeerUp(sa *ikeSA, id Identity) {
	e.mu.Lock()
	e.unindexPeerLocked(sa)
	sa.peer.id, sa.peer.up = id, e.nextSeqLocked()
	e.indexPeerLocked(sa)
	e.mu.Unlock()
}

// notePeerGone records that sa died.
func (e *Engine) notePeerGone(sa *ikeSA) {
	e.mu.Lock()
	sa.peerGone = true
	e.mu.Unlock()
}

// initialContact deletes, without telling the peer, the IKE SAs between
// peer and us (our identity in keep) that were established before keep's
// IKE_SA_INIT request arrived (begun): the peer restarted and has
// forgotten them (the receiving rule above).
func (e *Engine) initialContact(peer, us Identity, keep *ikeSA, begun uint64) {
	if peer.Type == IDNull {
		return // NULL identities say nothing about who restarted
	}
	e.mu.Lock()
	var old []*ikeSA
	// Only the established SAs whose peer proved an identity like peer's
	// (peerIndex): a responder gets INITIAL_CONTACT on nearly every first
	// handshake, and going through every SA, each under its own lock,
	// cost O(N) per handshake with N peers. The check under the SA's
	// lock below still decides.
	for sa := e.byPeerID[peerKeyOf(peer)]; sa != nil; sa = sa.idNext {
		if sa != keep && !sa.peerGone && sa.peer.up != 0 && sa.peer.up < begun {
			old = append(old, sa)
		}
	}
	e.mu.Unlock()
	for _, sa := range old {
		sa.lock()
		if sa.state == stEstablished && SameIdentity(sa.peerID, peer) && sa.isOurIdentity(us) {
			sa.die(fmt.Errorf("ike: INITIAL_CONTACT from %v", peer), false)
		}
		sa.unlock()
	}
}

// namesUs reports whether an IKE_AUTH request names no responder or us
// (our identity in this SA is us).
func namesUs(m *wire.Message, us Identity) bool {
	idr, ok := m.Get(wire.PayloadIDr).(*wire.IDPayload)
	return !ok || SameIdentity(idr.Identity, us)
}

// isOurIdentity reports whether we are id on sa (for an authenticated
// peer we authenticate with an identity too: Credentials.ID, or our
// address on sa). Called with sa.mu held.
func (sa *ikeSA) isOurIdentity(id Identity) bool {
	ours, err := sa.ourIdentity(AuthKindPubkey)
	return err == nil && SameIdentity(ours, id)
}
