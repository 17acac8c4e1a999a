package conn

import (
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// forPeer appends to dst the conns a peer at addr proving id may be, the
// ones naming its address before the road-warrior (%any) ones. The
// responder asks several times a handshake; callers pass a small buffer of
// their own (peerBuf), which keeps the common case off the heap.
func (c *Conns) forPeer(dst []*connState, addr netip.Addr, id ike.Identity) []*connState {
	all := c.list()
	for _, cs := range all {
		if cs.Remote.IsValid() && cs.peerFits(addr, id) {
			dst = append(dst, cs)
		}
	}
	for _, cs := range all {
		if !cs.Remote.IsValid() && cs.peerFits(addr, id) {
			dst = append(dst, cs)
		}
	}
	return dst
}

// peerBuf is the room forPeer's callers give it on their stack.
const peerBuf = 4

// LocalIDFor answers ike.Credentials.IDFor: the identity we claim as
// responder to a peer at remote that proved peer and named idr (zero:
// none) in its IDr. The conn is chosen as the rest of the responder
// chooses it (forPeer: exact addresses before road warriors), among those
// that authenticate with a key or a PSK; one whose local_id is the IDr the
// peer named comes first. A catch-all conn (remote %any without
// remote_id) fits every peer, OE's too, so it lends its local_id only to a
// peer that names it in IDr, as AcceptAuth leaves such peers to OE. ok is
// false when the chosen conn has no local_id of its own, or no conn fits:
// the daemon's identity then.
func (c *Conns) LocalIDFor(peer ike.Identity, remote netip.Addr, idr ike.Identity) (ike.Identity, bool) {
	cands := make([]*connState, 0, peerBuf)
	for _, cs := range c.forPeer(make([]*connState, 0, peerBuf), remote, peer) {
		if cs.Auth == ike.AuthKindPubkey || cs.Auth == ike.AuthKindPSK {
			cands = append(cands, cs)
		}
	}
	if idr.Type != 0 {
		for _, cs := range cands {
			if cs.LocalID.Type != 0 && ike.SameIdentity(cs.LocalID, idr) {
				return cs.LocalID, true
			}
		}
	}
	for _, cs := range cands {
		if !cs.Remote.IsValid() && cs.RemoteID.Type == 0 {
			continue // a catch-all: only by IDr, above
		}
		return cs.LocalID, cs.LocalID.Type != 0
	}
	return ike.Identity{}, false
}

// AcceptAuth answers ike.PeerPolicy's AcceptAuth for peers of
// configured conns: the peer must authenticate as its conn says. handled
// is false when no conn names the peer (OE decides).
func (c *Conns) AcceptAuth(req ike.AuthRequest) (handled bool, err error) {
	cands := c.forPeer(make([]*connState, 0, peerBuf), req.Remote, req.PeerID)
	if len(cands) == 0 {
		return false, nil
	}
	named := false
	for _, cs := range cands {
		if cs.Auth == req.Kind {
			return true, nil
		}
		named = named || cs.Remote.IsValid() || cs.RemoteID.Type != 0
	}
	if !named {
		return false, nil // only catch-all road-warrior conns of another kind: OE decides
	}
	c.stats.refused.Add(1)
	return true, fmt.Errorf("oe: peer %s (%s) authenticates with %s, but conn %s requires %s: %w",
		req.Remote, req.PeerID, req.Kind, cands[0].Name, cands[0].Auth, ErrRefused)
}

// Child answers ike.PeerPolicy's Child for peers of configured conns: the proposed
// selectors must lie inside (or contain, then they are narrowed to) the
// conn's subnets, the peer's side being its own address for a road
// warrior without subnets.
func (c *Conns) Child(req ike.ChildRequest) (handled bool, dec ike.ChildDecision, err error) {
	cands := make([]*connState, 0, peerBuf)
	for _, cs := range c.forPeer(make([]*connState, 0, peerBuf), req.Remote, req.PeerID) {
		if cs.Auth == req.Auth {
			cands = append(cands, cs)
		}
	}
	if len(cands) == 0 {
		return false, dec, nil
	}
	for _, cs := range cands {
		peerNets := cs.remoteNets()
		if !cs.Remote.IsValid() && len(cs.RemoteSubnets) == 0 {
			peerNets = []netip.Prefix{netip.PrefixFrom(req.Remote, req.Remote.BitLen())}
		}
		tsi, ok1 := narrow(req.TSi, peerNets)
		tsr, ok2 := narrow(req.TSr, cs.localNets())
		if !ok1 || !ok2 {
			continue
		}
		dec = ike.ChildDecision{TSi: tsi, TSr: tsr, Mode: cs.Mode}
		if cs.Mode == ike.ModeTransport && !req.Transport {
			dec.Mode = ike.ModeTunnel
		}
		return true, dec, nil
	}
	c.stats.refused.Add(1)
	return true, dec, fmt.Errorf("oe: peer %s (%s) asks for %s ↔ %s, outside conn %s (%v ↔ %v): %w",
		req.Remote, req.PeerID, tunnel.Text(req.TSi), tunnel.Text(req.TSr), cands[0].Name,
		cands[0].remoteNets(), cands[0].localNets(), ErrRefused)
}

// narrow answers proposed selectors with the conn's: a proposal inside
// the conn's subnets is taken as it is; one containing a conn subnet is
// narrowed to that subnet.
func narrow(proposed []ike.TrafficSelector, nets []netip.Prefix) ([]ike.TrafficSelector, bool) {
	if len(nets) == 0 {
		return nil, false
	}
	if selectorsWithin(proposed, nets) {
		return proposed, true
	}
	var out []ike.TrafficSelector
	for _, p := range nets {
		ps := tunnel.Selector(p)
		for _, ts := range proposed {
			if ts.Start.BitLen() == ps.Start.BitLen() && ts.Start.Compare(ps.Start) <= 0 && ps.End.Compare(ts.End) <= 0 {
				ps.IPProtocol, ps.StartPort, ps.EndPort = ts.IPProtocol, ts.StartPort, ts.EndPort
				out = append(out, ps)
				break
			}
		}
	}
	return out, len(out) > 0
}

// PeerKeys gives the keys of a conn whose remote key is a file, for the
// peer proving id from addr. ok is false when no such conn names the peer
// (its key then comes from DNS, through OE).
func (c *Conns) PeerKeys(id ike.Identity, addr netip.Addr) ([]crypto.PublicKey, bool) {
	var keys []crypto.PublicKey
	for _, cs := range c.forPeer(make([]*connState, 0, peerBuf), addr, id) {
		if cs.Auth == ike.AuthKindPubkey && len(cs.RemoteKeys) > 0 {
			if keys == nil {
				// One conn's keys as they are (most peers have one
				// conn); clipped, so that a second conn's are
				// appended to a copy.
				keys = slices.Clip(cs.RemoteKeys)
				continue
			}
			keys = append(keys, cs.RemoteKeys...)
		}
	}
	return keys, len(keys) > 0
}

// KeepsNull reports whether a conn with the peer's authentication names
// the peer: a NULL conn's answer stays NULL (ike.NullSignPolicy), where OE
// would sign for an opportunistic NULL initiator.
func (c *Conns) KeepsNull(req ike.AuthRequest) bool {
	for _, cs := range c.forPeer(make([]*connState, 0, peerBuf), req.Remote, req.PeerID) {
		if cs.Auth == req.Kind {
			return true
		}
	}
	return false
}

// ErrRefused marks a conn's refusal of a peer as responder.
var ErrRefused = errors.New("refused")
