package tunnel

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
// What must then hold is that the flows are told apart (SameFlow: both
// ends and the peer's identity) and that nothing deletes one IKE SA for
// the existence of another (INITIAL_CONTACT's scope, oe's replaceOlder).

// Tunnel is one installed CHILD SA pair.
type Tunnel struct {
	ID            kernel.SAPairID // the peer's outer address and both SPIs
	IKE           ike.SAID        // the IKE SA it was negotiated under
	PeerID        ike.Identity
	Local, Remote []ike.TrafficSelector
	Created       time.Time
	// Conn names the configured conn (oe/conn) that installed it; empty
	// for OE's own tunnels.
	Conn string
	// Seq orders the tunnels by when they came up: each new SA takes the
	// next number as Add records it, and a rekey keeps the number of the
	// tunnel it replaces. Unlike Created it never ties. Add runs inside
	// the exchange (ike.ChildInstaller's Install, before the answer goes
	// out), so its order is the order the SAs came up in; the engine's
	// OnChildUp hooks run later, in no particular order between IKE SAs.
	// It wraps around: compare with Before, never with <.
	Seq      uint32
	Auth     ike.AuthKind
	Mode     ike.Mode
	Replaced bool // a rekey installed its successor
	Start    Start
	// The small fields are last, together: a tunnel is kept per peer,
	// and packed it fits a smaller allocation size class.
}

// Start says how a tunnel came up, in one octet (a tunnel is kept per
// peer, in a size class with no room for another field).
type Start uint8

const (
	// StartInitiated: we started the exchange that made it.
	StartInitiated Start = 1 << iota
	// StartRekey: the exchange was a rekey; the tunnel replaced another.
	StartRekey
)

// Initiator reports whether we started the exchange that made t.
func (t Tunnel) Initiator() bool { return t.Start&StartInitiated != 0 }

// Rekey reports whether t is a rekey's successor.
func (t Tunnel) Rekey() bool { return t.Start&StartRekey != 0 }

// Before reports whether t came up before u (Seq in serial number
// arithmetic, RFC 1982: right across a wrap-around, as long as the two
// came up fewer than 2^31 tunnels apart).
func (t Tunnel) Before(u Tunnel) bool { return int32(t.Seq-u.Seq) < 0 }

// InSPI is the inbound SPI, the tunnel's key in the table.
func (t Tunnel) InSPI() uint32 { return t.ID.InSPI }

// OutSPI is the outbound SPI.
func (t Tunnel) OutSPI() uint32 { return t.ID.OutSPI }

// Peer is the peer's outer address.
func (t Tunnel) Peer() netip.Addr { return t.ID.Peer }

// Table holds the installed tunnels by inbound SPI. The zero value is
// ready; it is safe for concurrent use.
type Table struct {
	mu   sync.Mutex
	byIn map[uint32]*Tunnel
	peak int // the most byIn held since it was made (Remove)
	// byPeer and wide index byIn by address, for SameFlow and ToPeer
	// (index.go).
	byPeer map[netip.Addr][]uint32
	wide   map[uint32]struct{}
	seq    uint32 // the last Tunnel.Seq given
}

// A Go map keeps the buckets of the most entries it held: once the
// tunnels fall to shrinkFactor below a peak of at least shrinkMin (a
// burst of peers that left), byIn is re-made at its size. The copy costs
// one entry per shrinkFactor-1 removals before it.
const (
	shrinkMin    = 1024
	shrinkFactor = 8
)

// Add records sa, installed as the pair id at now by conn (empty: OE). A
// rekey (sa.Replaces) marks the tunnel it replaces and keeps its Seq.
func (t *Table) Add(now time.Time, sa ike.ChildSA, id kernel.SAPairID, conn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIn == nil {
		t.byIn = map[uint32]*Tunnel{}
	}
	var seq uint32
	var start Start
	if sa.Initiator {
		start |= StartInitiated
	}
	if old, ok := t.byIn[sa.Replaces]; ok && sa.Replaces != 0 {
		old.Replaced = true
		seq = old.Seq
		start |= StartRekey
	} else {
		t.seq++
		seq = t.seq
	}
	if prev, ok := t.byIn[sa.SPIIn]; ok {
		t.unindex(sa.SPIIn, prev)
	}
	tn := &Tunnel{
		ID: id, IKE: ike.SAID{SPIi: sa.IKESPIi, SPIr: sa.IKESPIr},
		PeerID: sa.PeerID, Auth: sa.PeerAuth, Mode: sa.Mode,
		Local: sa.TSLocal, Remote: sa.TSRemote, Created: now, Seq: seq, Start: start,
		Conn: conn,
	}
	t.byIn[sa.SPIIn] = tn
	t.index(sa.SPIIn, tn)
	t.peak = max(t.peak, len(t.byIn))
}

// Remove forgets the tunnel with this inbound SPI and returns it.
func (t *Table) Remove(spiIn uint32) (Tunnel, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tn, ok := t.byIn[spiIn]
	if !ok {
		return Tunnel{}, false
	}
	delete(t.byIn, spiIn)
	t.unindex(spiIn, tn)
	if t.peak >= shrinkMin && len(t.byIn) <= t.peak/shrinkFactor {
		m := make(map[uint32]*Tunnel, len(t.byIn))
		for k, v := range t.byIn {
			m[k] = v
		}
		byPeer := make(map[netip.Addr][]uint32, len(t.byPeer))
		for k, v := range t.byPeer {
			byPeer[k] = slices.Clone(v) // a peer's slice keeps its capacity too
		}
		t.byIn, t.byPeer, t.peak = m, byPeer, len(m)
	}
	return *tn, true
}

// Get returns the tunnel with this inbound SPI.
func (t *Table) Get(spiIn uint32) (Tunnel, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tn, ok := t.byIn[spiIn]
	if !ok {
		return Tunnel{}, false
	}
	return *tn, true
}

// SameFlow lists conn's tunnels (empty: OE's) that carry the same flow as
// sa under another IKE SA than sa's, that sa does not rekey. A flow is
// both its ends: the peer (its outer address and the identity it proved)
// and the local and remote selectors. Comparing the remote side alone took
// a second tunnel to the same peer (a second address of ours or of the
// peer, a second client behind the same gateway) for the first one
// reconnecting.
func (t *Table) SameFlow(sa ike.ChildSA, conn string) []Tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Tunnel
	for _, spi := range t.byPeer[sa.Remote] {
		tn := t.byIn[spi]
		if tn.Conn != conn || tn.Peer() != sa.Remote || tn.InSPI() == sa.SPIIn || tn.Replaced {
			continue
		}
		if tn.IKE.SPIi == sa.IKESPIi && tn.IKE.SPIr == sa.IKESPIr {
			continue
		}
		if !ike.SameIdentity(tn.PeerID, sa.PeerID) ||
			!slices.EqualFunc(tn.Local, sa.TSLocal, SameSelector) ||
			!slices.EqualFunc(tn.Remote, sa.TSRemote, SameSelector) {
			continue
		}
		out = append(out, *tn)
	}
	return out
}

// All lists every tunnel, oldest first.
func (t *Table) All() []Tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Tunnel, 0, len(t.byIn))
	for _, tn := range t.byIn {
		out = append(out, *tn)
	}
	slices.SortFunc(out, func(a, b Tunnel) int { return a.Created.Compare(b.Created) })
	return out
}
