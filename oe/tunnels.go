package oe

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
)

// Several tunnels to one peer. OE negotiates per flow, and two flows can
// end at the same peer: two addresses of a host that is its own gateway
// for the second, two clients behind one gateway, or both sides starting
// at once. Each such flow gets its own IKE SA, without INITIAL_CONTACT
// when another IKE SA with the peer exists (ike/contact.go), rather than
// a CHILD SA (CREATE_CHILD_SA) on the IKE SA already there:
//
//   - Flows start at the same instant. A CHILD SA would have to wait for
//     the first flow's IKE SA to be established (an extra round trip with
//     the second flow's packets held) and start its own IKE SA anyway when
//     that one fails, is refused for its own selectors, or authenticated
//     another way (NULL against a key); its own IKE SA is needed in any
//     case, and in parallel both flows come up in one round trip.
//   - OE's life cycle is per IKE SA: idle expiry, `oemesh down`, liveness
//     and failure shunts delete or judge IKE SAs. Flows sharing one would
//     live and die together, unless all of these moved to CHILD SAs.
//   - It costs an IKE SA (about 1.7 KiB) and a handshake per extra flow to
//     the same peer, and hosts have few flows per peer.
//
// What must then hold is that the flows are told apart (sameFlow: both
// ends and the peer's identity) and that nothing deletes one IKE SA for
// the existence of another (INITIAL_CONTACT's scope, replaceOlder).

// tunnel is one installed CHILD SA pair.
type tunnel struct {
	id            kernel.SAPairID // the peer's outer address and both SPIs
	ike           ike.SAID
	peerID        ike.Identity
	auth          ike.AuthKind
	mode          ike.Mode
	local, remote []ike.TrafficSelector
	created       time.Time
	replaced      bool // a rekey installed its successor
	initiator     bool
}

func (t tunnel) inSPI() uint32        { return t.id.InSPI }
func (t tunnel) outSPI() uint32       { return t.id.OutSPI }
func (t tunnel) peerAddr() netip.Addr { return t.id.Peer }

type tunnelTable struct {
	mu   sync.Mutex
	byIn map[uint32]*tunnel
}

func (t *tunnelTable) add(now time.Time, sa ike.ChildSA, id kernel.SAPairID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIn == nil {
		t.byIn = map[uint32]*tunnel{}
	}
	if old, ok := t.byIn[sa.Replaces]; ok && sa.Replaces != 0 {
		old.replaced = true
	}
	t.byIn[sa.SPIIn] = &tunnel{
		id: id, ike: ike.SAID{SPIi: sa.IKESPIi, SPIr: sa.IKESPIr},
		peerID: sa.PeerID, auth: sa.PeerAuth, mode: sa.Mode,
		local: sa.TSLocal, remote: sa.TSRemote, created: now, initiator: sa.Initiator,
	}
}

func (t *tunnelTable) remove(spiIn uint32) (tunnel, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tn, ok := t.byIn[spiIn]
	if !ok {
		return tunnel{}, false
	}
	delete(t.byIn, spiIn)
	return *tn, true
}

// sameFlow lists the tunnels that carry the same flow as sa under another
// IKE SA than sa's, that sa does not rekey. A flow is both its ends: the
// peer (its outer address and the identity it proved) and the local and
// remote selectors. Comparing the remote side alone took a second tunnel
// to the same peer (a second address of ours or of the peer, a second
// client behind the same gateway) for the first one reconnecting.
func (t *tunnelTable) sameFlow(sa ike.ChildSA) []tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []tunnel
	for _, tn := range t.byIn {
		if tn.peerAddr() != sa.Remote || tn.inSPI() == sa.SPIIn || tn.replaced {
			continue
		}
		if tn.ike.SPIi == sa.IKESPIi && tn.ike.SPIr == sa.IKESPIr {
			continue
		}
		if !idEqual(tn.peerID, sa.PeerID) ||
			!slices.EqualFunc(tn.local, sa.TSLocal, sameSelector) ||
			!slices.EqualFunc(tn.remote, sa.TSRemote, sameSelector) {
			continue
		}
		out = append(out, *tn)
	}
	return out
}

func sameSelector(a, b ike.TrafficSelector) bool {
	return a.Start == b.Start && a.End == b.End && a.IPProtocol == b.IPProtocol &&
		a.StartPort == b.StartPort && a.EndPort == b.EndPort
}

// toPeer lists tunnels to (or through, as gateway) addr.
func (t *tunnelTable) toPeer(addr netip.Addr) []tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []tunnel
	for _, tn := range t.byIn {
		if tn.replaced {
			continue
		}
		if tn.peerAddr() == addr || coversHost(tn.remote, addr) {
			out = append(out, *tn)
		}
	}
	return out
}

func (t *tunnelTable) all() []tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]tunnel, 0, len(t.byIn))
	for _, tn := range t.byIn {
		out = append(out, *tn)
	}
	slices.SortFunc(out, func(a, b tunnel) int { return a.created.Compare(b.created) })
	return out
}

func coversHost(tss []ike.TrafficSelector, a netip.Addr) bool {
	for _, ts := range tss {
		if inRange(ts, a) {
			return true
		}
	}
	return false
}
