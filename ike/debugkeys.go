package ike

import (
	"bytes"
	"net/netip"
)

// SAKeys are the keys of one IKE SA, for decrypting a capture of this
// host's own IKE messages (oemesh debug keys writes them in Wireshark's
// format). Whoever holds them can read and forge the SA's messages: they
// must never be logged. The engine forgets CHILD SA keys once the data
// plane has them, so ESP keys come from the data plane's side.
type SAKeys struct {
	ID        SAID
	Initiator bool // we are the original initiator
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Suite     IKESuite
	// SKei and SKer are the encryption keys of the messages the
	// initiator and the responder send (an AEAD's end with its salt);
	// SKai and SKar their integrity keys, empty with an AEAD.
	SKei, SKer, SKai, SKar []byte
}

// DebugKeys returns the keys of the established IKE SAs. The slices are
// copies.
func (e *Engine) DebugKeys() []SAKeys {
	var out []SAKeys
	for _, sa := range e.allSAs() {
		sa.lock()
		if k, ok := sa.debugKeys(); ok {
			out = append(out, k)
		}
		sa.unlock()
	}
	return out
}

// debugKeys are sa's keys; false while it has none (half-open) or is
// dead. sa.mu is held.
func (sa *ikeSA) debugKeys() (SAKeys, bool) {
	if sa.state == stDead || sa.established == 0 || sa.cin == nil || sa.cout == nil {
		return SAKeys{}, false
	}
	k := SAKeys{ID: sa.id(), Initiator: sa.initiator, Local: sa.local, Remote: sa.remote, Suite: sa.suite}
	fromI, fromR := sa.cout, sa.cin
	if !sa.initiator {
		fromI, fromR = sa.cin, sa.cout
	}
	k.SKei, k.SKai = fromI.splitKeys()
	k.SKer, k.SKar = fromR.splitKeys()
	return k, true
}

// splitKeys returns copies of the encryption key (with an AEAD's salt)
// and the integrity key that c was made from.
func (c *SKCipher) splitKeys() (encKey, integKey []byte) {
	n := c.encr.KeyLen()
	return bytes.Clone(c.keys[:n]), bytes.Clone(c.keys[n:])
}
