package ike

import "net/netip"

// The engine's index of its IKE SAs by their peer's address, for the
// sending rule of INITIAL_CONTACT (holdsOtherSA, contact.go): is there
// another IKE SA with this peer, in any state? With the identity index
// (peerindex.go) it answers without looking at every SA: the scan it
// replaces held the engine's lock for O(N) with N peers on every OE
// initiation.
//
// An SA is in it while it is in the engine's SA table (addSALocked to
// forget), under sa.peer.addr; register takes it out before it changes
// the SA's peer and addSALocked puts it back. The SAs of one address are
// a list through ikeSA.addrNext, so an SA costs the index one map slot
// and no allocation of its own. e.mu guards it all.

// indexAddrLocked adds sa under its peer's address. e.mu is held.
func (e *Engine) indexAddrLocked(sa *ikeSA) {
	a := sa.peer.addr
	if sa.addrIndexed || !a.IsValid() {
		return
	}
	if e.byAddr == nil {
		e.byAddr = map[netip.Addr]*ikeSA{}
	}
	sa.addrNext = e.byAddr[a]
	e.byAddr[a] = sa
	sa.addrIndexed = true
}

// unindexAddrLocked takes sa out of the index. e.mu is held.
func (e *Engine) unindexAddrLocked(sa *ikeSA) {
	if !sa.addrIndexed {
		return
	}
	a := sa.peer.addr
	sa.addrIndexed = false
	next := sa.addrNext
	sa.addrNext = nil
	if head := e.byAddr[a]; head == sa {
		if next == nil {
			delete(e.byAddr, a)
		} else {
			e.byAddr[a] = next
		}
		return
	}
	for o := e.byAddr[a]; o != nil; o = o.addrNext {
		if o.addrNext == sa {
			o.addrNext = next
			return
		}
	}
}

// holdsOtherSA reports whether the engine holds an IKE SA other than sa
// with sa's peer, in any state but dead: the sending rule (contact.go),
// peerRef.samePeer against every SA in the table, through the indexes.
// Called with sa.mu held.
func (e *Engine) holdsOtherSA(sa *ikeSA) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := sa.peer
	if p.addr.IsValid() {
		for o := e.byAddr[p.addr]; o != nil; o = o.addrNext {
			if o != sa && !o.peerGone {
				return true
			}
		}
	}
	if peerIndexed(p) {
		for o := e.byPeerID[peerKeyOf(p.id)]; o != nil; o = o.idNext {
			if o != sa && !o.peerGone && p.samePeer(o.peer) {
				return true
			}
		}
	}
	return false
}
