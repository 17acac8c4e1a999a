package conn_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// TestConnUniqueIDsSameFlow: one road warrior sets up a second IKE SA for
// the very same flow (same address, ID and selectors) without
// INITIAL_CONTACT. With unique_ids the gateway keeps only the new one;
// without, both stay: OE's peer-reconnect rule (oe/installer.go's
// replaceOlder) once deleted the older regardless of the conn's setting
// (issue 13's leftover).
func TestConnUniqueIDsSameFlow(t *testing.T) {
	for _, unique := range []bool{true, false} {
		t.Run(fmt.Sprintf("unique_ids=%v", unique), func(t *testing.T) {
			h := &hub{m: map[netip.Addr]node{}}
			rwID := ike.FQDNIdentity("rw.example")
			r1 := netip.MustParseAddr("203.0.113.1")
			gw, dpGW := newPSKStack(t, ike.Identity{}, hubPort{h})
			rw, _ := newPSKStack(t, rwID, hubPort{h})
			h.m[gwA], h.m[r1] = gw, rw
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := gw.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "rw", Local: gwA, RemoteID: rwID, LocalSubnets: []netip.Prefix{netA},
				Auth: ike.AuthKindPSK, UniqueIDs: unique}); err != nil {
				t.Fatal(err)
			}
			var first ike.SAID
			for i := range 2 {
				id, err := rw.Engine().Initiate(ctx, ike.InitiateOptions{
					Remote: netip.AddrPortFrom(gwA, 500), Local: r1, Auth: ike.AuthKindPSK, PeerAuth: ike.AuthKindPSK,
					PeerID: ike.AddrIdentity(gwA), TSi: []ike.TrafficSelector{ike.HostSelector(r1)},
					TSr: []ike.TrafficSelector{tunnel.Selector(netA)}, Mode: ike.ModeTunnel,
				})
				if err != nil {
					t.Fatalf("initiation %d: %v", i+1, err)
				}
				if i == 0 {
					first = id.IKE
				}
			}
			if unique {
				waitFor(t, "the older SA replaced", func() bool {
					return gw.Conns().List()[0].Tunnels == 1 && len(dpGW.SAs()) == 1
				})
				waitFor(t, "the road warrior told", func() bool {
					for _, sa := range rw.Engine().SAs() {
						if sa.ID == first {
							return false
						}
					}
					return true
				})
				return
			}
			time.Sleep(200 * time.Millisecond)
			if st := gw.Conns().List()[0]; st.Tunnels != 2 {
				t.Errorf("unique_ids=no: the conn has %d tunnels, want both: %+v", st.Tunnels, st)
			}
			if n := len(dpGW.SAs()); n != 2 {
				t.Errorf("unique_ids=no: %d SA pairs installed, want both", n)
			}
			if n := len(rw.Engine().SAs()); n != 2 {
				t.Errorf("unique_ids=no: the road warrior has %d IKE SAs, want both", n)
			}
		})
	}
}
