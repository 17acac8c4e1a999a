package oe

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
	"github.com/oemesh/oemesh/policygroups"
)

// TunnelStatus is one installed SA pair and its counters. It is plain data:
// the control API's view of it (and its JSON) is built in cmd/oemeshd.
type TunnelStatus struct {
	// Peer is the peer's outer address.
	Peer netip.Addr
	// PeerID is the identity the peer proved (ID_NULL when Auth is
	// ike.AuthKindNull).
	PeerID ike.Identity
	// Auth is how the peer authenticated.
	Auth ike.AuthKind
	// Mode is the pair's IPsec mode.
	Mode ike.Mode
	// Local and Remote are the negotiated traffic selectors.
	Local, Remote []ike.TrafficSelector
	// SPIIn and SPIOut are the inbound and outbound ESP SPIs.
	SPIIn, SPIOut uint32
	// InBytes and OutBytes count the ESP payload bytes through the pair.
	InBytes, OutBytes uint64
	// Age is the time since the pair was installed; Idle the time since
	// a packet last used it (or since it was installed).
	Age, Idle time.Duration
	// Initiator is true when this side started the IKE exchange.
	Initiator bool
	// KeyExchanges are those of the IKE SA the pair is under now (after
	// an IKE SA rekey, the new SA's); empty when the engine no longer
	// lists the pair (a rekeyed pair waiting for its Delete).
	KeyExchanges ike.KeyExchanges
	// PeerCert is the certificate the peer authenticated with (Auth
	// ike.AuthKindCert) and VirtualIPs the addresses of the IKE SA's mode
	// config (ike.ChildSAInfo.VirtualIPs), both from the IKE SA the pair
	// is under now; nil when the engine no longer lists the pair.
	PeerCert   *ike.PeerCertificate
	VirtualIPs []netip.Addr
	// Listed is true when the engine lists the pair's CHILD SA (not a
	// rekeyed pair waiting for its Delete); ESPInUDP, meaningful only
	// then, is true when the pair's ESP travels in UDP (RFC 3948).
	Listed, ESPInUDP bool
}

// Tunnels lists the installed SA pairs with their counters: OE's and,
// from the tunnel table it shares with them, the configured conns'.
func (o *OE) Tunnels(ctx context.Context) []TunnelStatus {
	now := o.cfg.Clock.Now()
	sas := o.tunnelSAs()
	var out []TunnelStatus
	for _, t := range o.tunnels.All() {
		c, _ := o.dp.SACounters(ctx, t.ID)
		last := t.Created
		if c.LastUse.After(last) {
			last = c.LastUse
		}
		sa := sas.of(t)
		child, listed := childOf(sa, t.InSPI())
		out = append(out, TunnelStatus{
			Peer: t.Peer(), PeerID: t.PeerID, Auth: t.Auth, Mode: t.Mode,
			Local: slices.Clone(t.Local), Remote: slices.Clone(t.Remote),
			SPIIn: t.InSPI(), SPIOut: t.OutSPI(),
			InBytes: c.InBytes, OutBytes: c.OutBytes,
			Age: now.Sub(t.Created), Idle: now.Sub(last),
			Initiator: t.Initiator(), KeyExchanges: sa.KeyExchanges,
			PeerCert: sa.PeerCert, VirtualIPs: slices.Clone(sa.VirtualIPs),
			Listed: listed, ESPInUDP: child.Encap,
		})
	}
	return out
}

// tunnelSAs finds the IKE SA of a tunnel.
type tunnelSAs struct {
	byChild map[uint32]*ike.SAInfo   // by CHILD SA inbound SPI
	byIKE   map[ike.SAID]*ike.SAInfo // by IKE SA
}

// tunnelSAs reads the engine's IKE SAs once for Tunnels.
func (o *OE) tunnelSAs() tunnelSAs { return indexSAs(o.engine.SAs()) }

// indexSAs indexes IKE SAs by their CHILD SAs and by ID.
func indexSAs(sas []ike.SAInfo) tunnelSAs {
	k := tunnelSAs{byChild: map[uint32]*ike.SAInfo{}, byIKE: map[ike.SAID]*ike.SAInfo{}}
	for i := range sas {
		sa := &sas[i]
		k.byIKE[sa.ID] = sa
		for _, c := range sa.Children {
			k.byChild[c.SPIIn] = sa
		}
	}
	return k
}

// of is t's: the IKE SA that holds its CHILD SA now, since an IKE SA
// rekey moves CHILD SAs to the new IKE SA without the table knowing, else
// the one it was negotiated under; the zero SAInfo when the engine lists
// neither.
func (k tunnelSAs) of(t tunnel.Tunnel) ike.SAInfo {
	if sa, ok := k.byChild[t.InSPI()]; ok {
		return *sa
	}
	if sa, ok := k.byIKE[t.IKE]; ok {
		return *sa
	}
	return ike.SAInfo{}
}

// childOf is the CHILD SA of sa whose inbound SPI is spi, if sa lists it.
func childOf(sa ike.SAInfo, spi uint32) (ike.ChildSAInfo, bool) {
	for _, c := range sa.Children {
		if c.SPIIn == spi {
			return c, true
		}
	}
	return ike.ChildSAInfo{}, false
}

// ShuntStatus is one shunt in force. It is plain data: the control API's
// view of it is built in cmd/oemeshd.
type ShuntStatus struct {
	// Flow is the flow the shunt applies to.
	Flow kernel.Flow
	// Kind is what the shunt does with the flow's packets.
	Kind kernel.ShuntKind
	// Group is the destination's policy group that chose the shunt.
	Group policygroups.Group
	// Reason says why the shunt was set, for people.
	Reason string
	// Expires is when the shunt ends.
	Expires time.Time
}

// Shunts lists the shunts oe set that are still in force, soonest to
// expire first.
func (o *OE) Shunts() []ShuntStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.cfg.Clock.Now()
	out := make([]ShuntStatus, 0, len(o.shunts))
	for _, s := range o.shunts {
		if !s.Expires.After(now) {
			continue
		}
		out = append(out, ShuntStatus{Flow: s.Flow, Kind: s.Kind, Group: s.group, Reason: s.Reason, Expires: s.Expires})
	}
	slices.SortFunc(out, func(a, b ShuntStatus) int { return a.Expires.Compare(b.Expires) })
	return out
}
