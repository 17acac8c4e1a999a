package main

// The operator's commands on live state: the peers (`oemesh peers`), the
// DNS cache (`oemesh dns cache`, `oemesh dns flush`) and the shunts
// (`oemesh shunts clear`).

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/oe"
)

func (d *daemon) handlePeers(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	return peersView(d.oe.Engine().SAs(), d.oe.Tunnels(r.Context())), nil
}

func (d *daemon) handleDNSCache(*http.Request) (any, error) {
	if d.resolver == nil {
		return nil, d.needOE()
	}
	return dnsCacheView(d.resolver.CacheEntries()), nil
}

// decodeBody reads a small JSON request body into v.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return control.BadRequest("bad request body: %v", err)
	}
	return nil
}

func (d *daemon) handleShuntsClear(r *http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	var req control.ShuntsClearRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	var dst netip.Addr
	switch {
	case req.All && req.Addr != "":
		return nil, control.BadRequest("shunts clear: give an address or all, not both")
	case req.All:
	case req.Addr == "":
		return nil, control.BadRequest("shunts clear: needs an address, or all")
	default:
		a, err := netip.ParseAddr(strings.TrimSpace(req.Addr))
		if err != nil {
			return nil, control.BadRequest("shunts clear: %q is not an IP address", req.Addr)
		}
		dst = a
	}
	cleared, err := d.oe.ClearShunts(r.Context(), dst)
	if err != nil {
		d.log.Warn("clearing shunts: the data plane refused some", "dst", dst, "err", err)
	}
	return control.ShuntsClearReply{Cleared: shuntsView(cleared)}, nil
}

func (d *daemon) handleDNSFlush(r *http.Request) (any, error) {
	if d.resolver == nil {
		return nil, d.needOE()
	}
	var req control.DNSFlushRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	switch {
	case req.All && req.ID != "":
		return nil, control.BadRequest("dns flush: give a name or all, not both")
	case req.All:
		n := d.resolver.FlushAll()
		d.log.Info("DNS cache flushed", "entries", n)
		return control.DNSFlushReply{Flushed: n}, nil
	case req.ID == "":
		return nil, control.BadRequest("dns flush: needs an address or @FQDN, or all")
	}
	id, err := dnskey.ParseID(strings.TrimSpace(req.ID))
	if err != nil {
		return nil, control.BadRequest("dns flush: %v", err)
	}
	name, _ := id.QueryName()
	n, err := d.resolver.Flush(id)
	if err != nil {
		return nil, control.BadRequest("dns flush %s: %v", id, err)
	}
	d.log.Info("DNS cache flushed", "name", name, "entries", n)
	return control.DNSFlushReply{Name: name, Flushed: n}, nil
}

// peersView sums up the established IKE SAs by peer address, with the
// tunnels under them: `oemesh peers`, one line per peer.
func peersView(sas []ike.SAInfo, ts []oe.TunnelStatus) []control.Peer {
	bySPI := make(map[uint32]oe.TunnelStatus, len(ts))
	for _, t := range ts {
		bySPI[t.SPIIn] = t
	}
	type acc struct {
		p      control.Peer
		newest time.Time
		idle   time.Duration
		idleOK bool
	}
	peers := map[netip.Addr]*acc{}
	for _, sa := range sas {
		if sa.Established.IsZero() {
			continue // half-open: not a peer yet
		}
		addr := sa.Remote.Addr().Unmap()
		a := peers[addr]
		if a == nil {
			a = &acc{p: control.Peer{Addr: addr.String()}}
			peers[addr] = a
		}
		a.p.IKESAs++
		if !sa.Established.Before(a.newest) {
			a.newest = sa.Established
			a.p.Auth = authView(sa.PeerAuth)
			a.p.ID = ""
			if sa.PeerAuth != ike.AuthKindNull {
				a.p.ID = peerIDText(sa.PeerID)
			}
			a.p.KeyExchanges = sa.KeyExchanges.String()
			a.p.QuantumResistant = sa.KeyExchanges.QuantumResistant()
			a.p.LastHandshake = sa.Established.UTC()
			a.p.PeerCert = peerCertView(sa.PeerCert)
			a.p.Initiator = sa.Initiator
			a.p.VirtualIPs = nil
			for _, v := range sa.VirtualIPs {
				a.p.VirtualIPs = append(a.p.VirtualIPs, v.String())
			}
		}
		for _, c := range sa.Children {
			t, ok := bySPI[c.SPIIn]
			if !ok {
				continue // not installed (yet, or any more)
			}
			a.p.Tunnels++
			a.p.InBytes += t.InBytes
			a.p.OutBytes += t.OutBytes
			if !a.idleOK || t.Idle < a.idle {
				a.idle, a.idleOK = t.Idle, true
			}
		}
	}
	out := make([]control.Peer, 0, len(peers))
	for _, a := range peers {
		if a.idleOK {
			s := control.Seconds(a.idle)
			a.p.IdleSeconds = &s
		}
		out = append(out, a.p)
	}
	slices.SortFunc(out, func(x, y control.Peer) int {
		return netip.MustParseAddr(x.Addr).Compare(netip.MustParseAddr(y.Addr))
	})
	return out
}
