package conn

import (
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/ike"
)

// tunnelIndex finds a conn's tunnels by peer address and by the identity
// their peer proved, so that a tunnel coming up (OnChildUp) or going
// (OnChildDown) looks only at the tunnels it may rekey, replace or
// succeed, not at every tunnel of the conn: a conn with remote %any
// serves any number of peers, and a walk of all of them per handshake
// made the daemon's cost per handshake grow with the peers it holds.
// It holds inbound SPIs, keys of connState.tunnels; Conns.mu guards it.
type tunnelIndex struct {
	byPeer map[netip.Addr][]uint32
	byID   map[string][]uint32 // by ike.IdentityKey: candidates, SameIdentity decides
}

func (x *tunnelIndex) add(spi uint32, t connTunnel) {
	if x.byPeer == nil {
		x.byPeer = map[netip.Addr][]uint32{}
		x.byID = map[string][]uint32{}
	}
	x.byPeer[t.peer] = append(x.byPeer[t.peer], spi)
	k := t.key()
	x.byID[k] = append(x.byID[k], spi)
}

func (x *tunnelIndex) remove(spi uint32, t connTunnel) {
	removeSPI(x.byPeer, t.peer, spi)
	removeSPI(x.byID, t.key(), spi)
}

func removeSPI[K comparable](m map[K][]uint32, k K, spi uint32) {
	l := m[k]
	i := slices.Index(l, spi)
	if i < 0 {
		return
	}
	l = slices.Delete(l, i, i+1)
	if len(l) == 0 {
		delete(m, k)
		return
	}
	m[k] = l
}

// withPeer and withID are the SPIs of the tunnels with peer address a,
// and of those whose peer proved an identity that may be id; the slices
// are the index's own, to read under Conns.mu.
func (x *tunnelIndex) withPeer(a netip.Addr) []uint32 { return x.byPeer[a] }

func (x *tunnelIndex) withID(id ike.Identity) []uint32 { return x.byID[ike.IdentityKey(id)] }

// key is the tunnel's ike.IdentityKey: the one OnChildUp took, else
// computed (each computation allocates the key).
func (t connTunnel) key() string {
	if t.idKey != "" {
		return t.idKey
	}
	return ike.IdentityKey(t.peerID)
}
