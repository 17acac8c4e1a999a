package conn_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// roadWarriors is a gateway with one conn, "rw": remote %any, PSK, netA
// behind the gateway, for peers that all prove roadWarriorID (unique_ids off), as
// road warriors sharing a credential or a load generator. One PSK stack
// plays every road warrior, from whatever address connect gives it.
type roadWarriors struct {
	gw *gateway
	rw *dispatch.Dispatcher
	h  *hub
}

var roadWarriorID = ike.FQDNIdentity("rw.example")

// newRoadWarriors builds them; the gateway's conns log to log (nil:
// nowhere).
func newRoadWarriors(t *testing.T, ctx context.Context, log *slog.Logger) *roadWarriors {
	t.Helper()
	h := &hub{m: map[netip.Addr]node{}}
	r := &roadWarriors{gw: newGatewayLog(t, hubPort{h}, log), h: h}
	r.rw, _ = newPSKStack(t, roadWarriorID, hubPort{h})
	h.m[gwA] = r.gw
	if err := r.gw.conns.Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "rw", Local: gwA, RemoteID: roadWarriorID, LocalSubnets: []netip.Prefix{netA},
		Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	return r
}

// connect brings a road warrior up from addr: an IKE SA with one CHILD
// SA from addr to netA.
func (r *roadWarriors) connect(t *testing.T, ctx context.Context, addr netip.Addr) ike.ChildSAInfo {
	t.Helper()
	r.h.m[addr] = r.rw
	info, err := r.rw.Engine().Initiate(ctx, ike.InitiateOptions{
		Remote: netip.AddrPortFrom(gwA, 500), Local: addr, Auth: ike.AuthKindPSK, PeerAuth: ike.AuthKindPSK,
		PeerID: ike.AddrIdentity(gwA), TSi: []ike.TrafficSelector{ike.HostSelector(addr)},
		TSr: []ike.TrafficSelector{tunnel.Selector(netA)}, Mode: ike.ModeTunnel,
	})
	if err != nil {
		t.Fatalf("initiation from %s: %v", addr, err)
	}
	return info
}

// tunnels is how many tunnels the conn holds.
func (r *roadWarriors) tunnels() int {
	for _, s := range r.gw.conns.List() {
		if s.Name == "rw" {
			return s.Tunnels
		}
	}
	return -1
}

// rwTunnel puts a CHILD SA of conn "rw" from addr to netA, inbound and
// outbound SPI spi, under IKE SA id, into g's tunnel table as the conns'
// Install would, without a handshake, and returns what the engine's
// hooks would be handed for it.
func (g *gateway) rwTunnel(spi uint32, addr netip.Addr, id ike.SAID, peerID ike.Identity) ike.ChildSAInfo {
	sa := ike.ChildSA{SPIIn: spi, SPIOut: spi, Local: gwA, Remote: addr, Mode: ike.ModeTunnel,
		TSLocal: []ike.TrafficSelector{tunnel.Selector(netA)}, TSRemote: []ike.TrafficSelector{ike.HostSelector(addr)}}
	g.tunnels.Add(time.Now(), sa, kernel.SAPairID{Peer: addr, InSPI: spi, OutSPI: spi}, "rw")
	return ike.ChildSAInfo{IKE: id, SPIIn: spi, PeerID: peerID, TSLocal: sa.TSLocal, TSRemote: sa.TSRemote, Mode: ike.ModeTunnel}
}
