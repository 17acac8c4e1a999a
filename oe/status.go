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
}

// Tunnels lists the installed SA pairs with their counters: OE's and,
// from the tunnel table it shares with them, the configured conns'.
func (o *OE) Tunnels(ctx context.Context) []TunnelStatus {
	now := o.cfg.Clock.Now()
	kes := o.keyExchanges()
	var out []TunnelStatus
	for _, t := range o.tunnels.All() {
		c, _ := o.dp.SACounters(ctx, t.ID)
		last := t.Created
		if c.LastUse.After(last) {
			last = c.LastUse
		}
		out = append(out, TunnelStatus{
			Peer: t.Peer(), PeerID: t.PeerID, Auth: t.Auth, Mode: t.Mode,
			Local: slices.Clone(t.Local), Remote: slices.Clone(t.Remote),
			SPIIn: t.InSPI(), SPIOut: t.OutSPI(),
			InBytes: c.InBytes, OutBytes: c.OutBytes,
			Age: now.Sub(t.Created), Idle: now.Sub(last),
			Initiator: t.Initiator, KeyExchanges: kes.of(t),
		})
	}
	return out
}

// tunnelKeyExchanges finds the key exchanges of a tunnel's IKE SA.
type tunnelKeyExchanges struct {
	byChild map[uint32]ike.KeyExchanges   // by CHILD SA inbound SPI
	byIKE   map[ike.SAID]ike.KeyExchanges // by IKE SA
}

// keyExchanges reads the engine's IKE SAs once for Tunnels.
func (o *OE) keyExchanges() tunnelKeyExchanges {
	k := tunnelKeyExchanges{byChild: map[uint32]ike.KeyExchanges{}, byIKE: map[ike.SAID]ike.KeyExchanges{}}
	for _, sa := range o.engine.SAs() {
		k.byIKE[sa.ID] = sa.KeyExchanges
		for _, c := range sa.Children {
			k.byChild[c.SPIIn] = sa.KeyExchanges
		}
	}
	return k
}

// of is t's: the IKE SA's that holds its CHILD SA now, since an IKE SA
// rekey moves CHILD SAs to the new IKE SA without the table knowing, else
// the one it was negotiated under.
func (k tunnelKeyExchanges) of(t tunnel.Tunnel) ike.KeyExchanges {
	if kes, ok := k.byChild[t.InSPI()]; ok {
		return kes
	}
	return k.byIKE[t.IKE]
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
