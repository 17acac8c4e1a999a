package ike

import (
	"strings"
	"unicode"
)

// The engine's index of SAs by their peer's identity, for INITIAL_CONTACT
// (contact.go), which must find the SAs with one peer among every SA the
// engine holds. An SA is in it while it is in the engine's tables with a
// peer identity (peerIndexed): the one it asked for (an initiator's,
// until established) or the one the peer proved. NULL identities are
// left out: neither rule looks for them, and every NULL peer would share
// one bucket. The index holds candidates; initialContact takes only the
// established ones, and SameIdentity decides. The SAs of a bucket are a
// list through ikeSA.idNext: one map slot a peer, no slice of its own.

// peerKey buckets identities so that identities SameIdentity calls the
// same share a bucket: octet for octet for most types, FQDNs with case
// folded and the final dot dropped, and every DN in one bucket (DNs
// compare by meaning, internal/dn; SameIdentity tells them apart).
type peerKey struct {
	t    IDType
	data string
}

func peerKeyOf(id Identity) peerKey {
	switch id.Type {
	case IDFQDN:
		return peerKey{t: id.Type, data: foldKey(strings.TrimSuffix(string(id.Data), "."))}
	case IDDerASN1DN:
		return peerKey{t: id.Type}
	}
	return peerKey{t: id.Type, data: string(id.Data)}
}

// foldKey maps s to one representative of the strings strings.EqualFold
// calls equal to it: each rune becomes the smallest of its simple case
// folding orbit, the equivalence EqualFold tests.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// indexPeerLocked adds sa, if established, under its peer's identity;
// unindexPeerLocked takes it out. e.mu is held.
func (e *Engine) indexPeerLocked(sa *ikeSA) {
	if !peerIndexed(sa.peer) {
		return
	}
	k := peerKeyOf(sa.peer.id)
	sa.idNext = e.byPeerID[k]
	e.byPeerID[k] = sa
}

func (e *Engine) unindexPeerLocked(sa *ikeSA) {
	if !peerIndexed(sa.peer) {
		return
	}
	k := peerKeyOf(sa.peer.id)
	next := sa.idNext
	sa.idNext = nil
	if head := e.byPeerID[k]; head == sa {
		if next == nil {
			delete(e.byPeerID, k)
		} else {
			e.byPeerID[k] = next
		}
		return
	}
	for o := e.byPeerID[k]; o != nil; o = o.idNext {
		if o.idNext == sa {
			o.idNext = next
			return
		}
	}
}

// peerIndexed reports whether an SA with peer p belongs in byPeerID.
func peerIndexed(p peerRef) bool { return p.id.Type != 0 && p.id.Type != IDNull }
