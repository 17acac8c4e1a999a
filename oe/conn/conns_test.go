package conn_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/oe/tunnel"
)

var (
	gwA    = netip.MustParseAddr("192.0.2.1")
	gwB    = netip.MustParseAddr("198.51.100.1")
	netA   = netip.MustParsePrefix("10.1.0.0/16")
	netB   = netip.MustParsePrefix("10.2.0.0/16")
	pskKey = []byte("a shared secret of some length")
)

func TestConnMostSpecificWins(t *testing.T) {
	o, dp := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	o.OE().SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "10.0.0.0/8\n", "clear": "10.2.3.0/24\n"}))
	if err := o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, Auto: "route"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "lab", Local: gwA, Remote: netip.MustParseAddr("198.51.100.9"),
		RemoteSubnets: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}, Auto: "add"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, conn string
	}{
		{"10.2.0.5", "office"}, // the conn's /16 beats the group's /8
		{"10.2.3.4", ""},       // the clear /24 beats the conn
		{"10.5.0.1", ""},       // only the group
		{"10.9.0.1", ""},       // an added (unrouted) conn takes no traffic
	} {
		name, _, ok := o.Conns().For(netip.MustParseAddr(tc.addr))
		if ok != (tc.conn != "") || name != tc.conn {
			t.Errorf("ConnFor(%s) = %q %v, want %q", tc.addr, name, ok, tc.conn)
		}
	}
	// auto=route trapped the remote subnet.
	found := false
	for _, tr := range dp.Traps() {
		if tr.Prefix == netB && tr.Group == kernel.GroupPrivate {
			found = true
		}
	}
	if !found {
		t.Fatalf("no trap for %s: %v", netB, dp.Traps())
	}
	// Unroute gives the prefix back; the conn no longer wins.
	if err := o.Conns().Unroute(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range dp.Traps() {
		if tr.Prefix == netB {
			t.Errorf("trap for %s left after unroute", netB)
		}
	}
	if _, _, ok := o.Conns().For(netip.MustParseAddr("10.2.0.5")); ok {
		t.Error("an unrouted conn still wins")
	}
	if err := o.Conns().Unroute(ctx, "office"); err == nil || !strings.Contains(err.Error(), "not routed") {
		t.Errorf("second unroute: %v", err)
	}
	// Overlapping conns are refused.
	err := o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "shadow", Local: gwA, Remote: netip.MustParseAddr("198.51.100.7"), LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netip.MustParsePrefix("10.2.128.0/17")}})
	if err == nil || !strings.Contains(err.Error(), "overlaps 10.2.0.0/16 of conn office") {
		t.Errorf("overlap: %v", err)
	}
}

func TestConnAcquireFromOutsideLocalSubnets(t *testing.T) {
	o, dp := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, Auto: "route"})
	go o.Run(ctx)
	// The gateway's own address is not in 10.1.0.0/16: its packets to
	// the remote subnet are not the tunnel's (FreeS/WAN FAQ).
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: gwA, Dst: netip.MustParseAddr("10.2.0.7")}, Time: time.Now()})
	oetest.WaitFor(t, "pass shunt", func() bool { _, ok := oetest.ShuntFor(dp, "10.2.0.7"); return ok })
	s, _ := oetest.ShuntFor(dp, "10.2.0.7")
	if s.Kind != kernel.ShuntPass || !strings.Contains(s.Reason, "outside conn office's local subnets") {
		t.Errorf("shunt %+v", s)
	}
}

func TestConnResponderDecisions(t *testing.T) {
	o, _ := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	o.OE().SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"clear-or-private": "0.0.0.0/0\n"}))
	o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK})
	o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "alice", Local: gwA, RemoteID: ike.FQDNIdentity("alice.example"),
		LocalSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK})
	// The conn's peer with its PSK is accepted; with a signature not.
	if err := o.AcceptAuth(ctx, ike.AuthRequest{PeerID: ike.AddrIdentity(gwB), Remote: gwB, Local: gwA, Kind: ike.AuthKindPSK}); err != nil {
		t.Errorf("PSK from the conn's peer refused: %v", err)
	}
	err := o.AcceptAuth(ctx, ike.AuthRequest{PeerID: ike.AddrIdentity(gwB), Remote: gwB, Local: gwA, Kind: ike.AuthKindPubkey})
	if err == nil || !strings.Contains(err.Error(), "conn office requires psk") {
		t.Errorf("pubkey for a psk conn: %v", err)
	}
	// Another peer with a PSK is OE's business, and OE uses none.
	other := netip.MustParseAddr("203.0.113.9")
	if err := o.AcceptAuth(ctx, ike.AuthRequest{PeerID: ike.AddrIdentity(other), Remote: other, Local: gwA, Kind: ike.AuthKindPSK}); err == nil {
		t.Error("PSK from a stranger accepted")
	}
	// A road warrior is known by its ID from any address.
	rw := netip.MustParseAddr("203.0.113.50")
	if err := o.AcceptAuth(ctx, ike.AuthRequest{PeerID: ike.FQDNIdentity("alice.example"), Remote: rw, Local: gwA, Kind: ike.AuthKindPSK}); err != nil {
		t.Errorf("road warrior refused: %v", err)
	}
	dec, err := o.Child(ctx, ike.ChildRequest{PeerID: ike.FQDNIdentity("alice.example"), Auth: ike.AuthKindPSK, Remote: rw, Local: gwA,
		TSi: []ike.TrafficSelector{tunnel.Selector(netip.MustParsePrefix("0.0.0.0/0"))}, TSr: []ike.TrafficSelector{tunnel.Selector(netip.MustParsePrefix("0.0.0.0/0"))}})
	if err != nil || len(dec.TSi) != 1 || dec.TSi[0].Start != rw || dec.TSi[0].End != rw ||
		!tunnel.SameSelector(dec.TSr[0], tunnel.Selector(netA)) || dec.Mode != ike.ModeTunnel {
		t.Errorf("road warrior child narrowed to %+v, %v", dec, err)
	}
	// Net to net: exact, narrowed, refused.
	dec, err = o.Child(ctx, ike.ChildRequest{PeerID: ike.AddrIdentity(gwB), Auth: ike.AuthKindPSK, Remote: gwB, Local: gwA,
		TSi: []ike.TrafficSelector{tunnel.Selector(netip.MustParsePrefix("10.2.1.0/24"))}, TSr: []ike.TrafficSelector{tunnel.Selector(netA)}})
	if err != nil || !tunnel.SameSelector(dec.TSi[0], tunnel.Selector(netip.MustParsePrefix("10.2.1.0/24"))) {
		t.Errorf("a narrower proposal: %+v, %v", dec, err)
	}
	_, err = o.Child(ctx, ike.ChildRequest{PeerID: ike.AddrIdentity(gwB), Auth: ike.AuthKindPSK, Remote: gwB, Local: gwA,
		TSi: []ike.TrafficSelector{tunnel.Selector(netip.MustParsePrefix("10.3.0.0/16"))}, TSr: []ike.TrafficSelector{tunnel.Selector(netA)}})
	if err == nil || !strings.Contains(err.Error(), "outside conn office") {
		t.Errorf("selectors outside the conn: %v", err)
	}
}

// pskPair is two orchestrators (gateway A and B) talking IKE in memory,
// each with a conn for the other.
func pskPair(t *testing.T, updown string, mods ...func(*conn.Conn)) (a, b *dispatch.Dispatcher, dpA, dpB *fake.Dataplane) {
	t.Helper()
	pa, pb := &pipe{}, &pipe{}
	a, dpA = newPSKStack(t, ike.Identity{}, pa)
	b, dpB = newPSKStack(t, ike.Identity{}, pb)
	pa.to.Store(b)
	pb.to.Store(a)
	ctx := context.Background()
	ca := conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, KeyingTries: 2, Updown: updown, RetryBase: 10 * time.Millisecond}
	for _, m := range mods {
		m(&ca)
	}
	if err := a.Conns().Add(ctx, ca); err != nil {
		t.Fatal(err)
	}
	if err := b.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office-b", Local: gwB, Remote: gwA, LocalSubnets: []netip.Prefix{netB},
		RemoteSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	return a, b, dpA, dpB
}

func TestConnUpDownPSKWithUpdown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "env.log")
	script := filepath.Join(dir, "updown")
	os.WriteFile(script, []byte("#!/bin/sh\n{ echo ---; env | grep ^PLUTO_ | sort; } >> "+log+"\n"), 0o755)
	a, b, _, dpB := pskPair(t, script)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.OE().Tunnels(ctx)) == 1 })
	sa := dpB.SAs()
	if len(sa) != 1 || sa[0].Local[0] != netB || sa[0].Remote[0] != netA || sa[0].Mode != kernel.ModeTunnel {
		t.Fatalf("B installed %+v", sa)
	}
	st := a.Conns().List()
	if st[0].State != conn.StateUp || st[0].Tunnels != 1 {
		t.Errorf("A's conn: %+v", st[0])
	}
	oetest.WaitFor(t, "updown up", func() bool { b, _ := os.ReadFile(log); return strings.Contains(string(b), "PLUTO_VERB=up-client") })
	env, _ := os.ReadFile(log)
	for _, want := range []string{"PLUTO_CONNECTION=office", "PLUTO_PEER=198.51.100.1", "PLUTO_PEER_CLIENT=10.2.0.0/16",
		"PLUTO_MY_CLIENT=10.1.0.0/16", "PLUTO_PEER_ID=198.51.100.1", "PLUTO_ME=192.0.2.1", "PLUTO_MY_CLIENT_MASK=255.255.0.0",
		"PLUTO_PEER_CLIENT_NET=10.2.0.0", "PLUTO_CONN_POLICY=PSK+ENCRYPT+TUNNEL+IKEV2_ALLOW", "PLUTO_PEER_PROTOCOL=0"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("updown env lacks %s:\n%s", want, env)
		}
	}
	// down: the peer is told, updown runs down-client, the conn stays
	// unrouted as it was.
	if err := a.Conns().Down(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel gone", func() bool { return len(b.OE().Tunnels(ctx)) == 0 })
	oetest.WaitFor(t, "updown down", func() bool { b, _ := os.ReadFile(log); return strings.Contains(string(b), "PLUTO_VERB=down-client") })
	if st := a.Conns().List()[0]; st.Routed || st.State != conn.StateDown {
		t.Errorf("after down: %+v", st)
	}
}

func TestConnKeyingTriesGiveUp(t *testing.T) {
	a, b, _, _ := pskPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Conns().Remove(ctx, "office-b") // B no longer knows A: it refuses
	err := a.Conns().Up(ctx, "office")
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 tries") {
		t.Fatalf("ConnUp: %v", err)
	}
	st := a.Conns().List()[0]
	if st.State != conn.StateGaveUp || st.Tries != 2 || !strings.Contains(st.LastError, "gave up after 2 tries") {
		t.Errorf("status after giving up: %+v", st)
	}
}

func TestUpdownFailureNamesTheCommand(t *testing.T) {
	o, _ := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	dir := t.TempDir()
	script := filepath.Join(dir, "fail updown")
	os.WriteFile(script, []byte("#!/bin/sh\necho route add failed: no such device >&2\nexit 3\n"), 0o755)
	slow := filepath.Join(dir, "slow")
	os.WriteFile(slow, []byte("#!/bin/sh\nsleep 30\n"), 0o755)
	ctx := context.Background()
	o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "f", Local: gwA, Remote: gwB, Updown: script, Auto: "route"})
	st := o.Conns().List()[0]
	for _, want := range []string{"route-host: FAILED (exit status 3)", "PLUTO_VERB=route-host", "'" + script + "'", "route add failed: no such device"} {
		if !strings.Contains(st.LastUpdown, want) {
			t.Errorf("last updown %q lacks %q", st.LastUpdown, want)
		}
	}
	o.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "s", Local: gwA, Remote: netip.MustParseAddr("198.51.100.2"), Updown: slow, UpdownTimeout: 100 * time.Millisecond, Auto: "route"})
	start := time.Now()
	if st := o.Conns().List()[1]; !strings.Contains(st.LastUpdown, "killed after its time limit of 100ms") {
		t.Errorf("slow script: %q", st.LastUpdown)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the time limit did not stop the script")
	}
}

func TestConnLifetime(t *testing.T) {
	for _, rekey := range []bool{true, false} {
		t.Run(fmt.Sprintf("rekey=%v", rekey), func(t *testing.T) {
			a, _, _, _ := pskPair(t, "", func(c *conn.Conn) { c.Lifetime, c.Rekey = 500*time.Millisecond, rekey })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Conns().Up(ctx, "office"); err != nil {
				t.Fatal(err)
			}
			first := a.OE().Tunnels(ctx)[0].SPIIn
			if rekey {
				// Rekeyed before the end: a new SA, the conn stays up.
				oetest.WaitFor(t, "rekey", func() bool {
					ts := a.OE().Tunnels(ctx)
					return len(ts) == 1 && ts[0].SPIIn != first
				})
				if st := a.Conns().List()[0]; st.State != conn.StateUp {
					t.Errorf("after rekey: %+v", st)
				}
				return
			}
			// rekey=no: deleted at the end of its lifetime.
			start := time.Now()
			oetest.WaitFor(t, "expiry", func() bool { return len(a.OE().Tunnels(ctx)) == 0 })
			if st := a.Conns().List()[0]; st.State != conn.StateDown || st.Tunnels != 0 {
				t.Errorf("after expiry: %+v", st)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("expiry took %v", d)
			}
		})
	}
}

// TestConnUniqueIDs: two road warriors prove the same ID without
// INITIAL_CONTACT (so the engine keeps both); with unique_ids the gateway
// deletes the older SA, without it keeps both.
func TestConnUniqueIDs(t *testing.T) {
	for _, unique := range []bool{true, false} {
		t.Run(fmt.Sprintf("unique_ids=%v", unique), func(t *testing.T) {
			h := &hub{m: map[netip.Addr]node{}}
			mk := func(addr netip.Addr, id ike.Identity) *dispatch.Dispatcher {
				d, _ := newPSKStack(t, id, hubPort{h})
				h.m[addr] = d
				return d
			}
			gw := mk(gwA, ike.Identity{})
			rwID := ike.FQDNIdentity("rw.example")
			r1, r2 := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
			i1, i2 := mk(r1, rwID), mk(r2, rwID)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := gw.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "rw", Local: gwA, RemoteID: rwID, LocalSubnets: []netip.Prefix{netA},
				Auth: ike.AuthKindPSK, UniqueIDs: unique}); err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				o    *dispatch.Dispatcher
				addr netip.Addr
			}{{i1, r1}, {i2, r2}} {
				_, err := x.o.Engine().Initiate(ctx, ike.InitiateOptions{
					Remote: netip.AddrPortFrom(gwA, 500), Local: x.addr, Auth: ike.AuthKindPSK, PeerAuth: ike.AuthKindPSK,
					PeerID: ike.AddrIdentity(gwA), TSi: []ike.TrafficSelector{ike.HostSelector(x.addr)},
					TSr: []ike.TrafficSelector{tunnel.Selector(netA)}, Mode: ike.ModeTunnel,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if unique {
				oetest.WaitFor(t, "the older SA replaced", func() bool {
					st := gw.Conns().List()[0]
					return st.Tunnels == 1 && strings.Contains(strings.Join(st.Peers, " "), r2.String())
				})
				oetest.WaitFor(t, "r1 told", func() bool { return len(i1.Engine().SAs()) == 0 })
				return
			}
			// Both hooks have run (they may come after Initiate returns),
			// then nothing may delete either tunnel.
			oetest.WaitFor(t, "both tunnels up", func() bool { return gw.Conns().List()[0].Tunnels == 2 })
			time.Sleep(200 * time.Millisecond)
			if st := gw.Conns().List()[0]; st.Tunnels != 2 {
				t.Errorf("unique_ids=false: %+v", st)
			}
		})
	}
}

// TestConnAfterIKERekey: an IKE rekey moves the conn's CHILD SA to a new
// IKE SA without telling the hooks; a CHILD rekey after it is still a
// rekey (no second updown up), and conn down deletes the IKE SA that
// holds the tunnel now.
func TestConnAfterIKERekey(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "env.log")
	script := filepath.Join(dir, "updown")
	os.WriteFile(script, []byte("#!/bin/sh\necho $PLUTO_VERB >> "+log+"\n"), 0o755)
	a, b, _, _ := pskPair(t, script)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	old := a.Engine().SAs()[0].ID
	if err := a.Engine().RekeyIKE(ctx, old); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "IKE rekey", func() bool { sas := a.Engine().SAs(); return len(sas) == 1 && sas[0].ID != old })
	spi := a.OE().Tunnels(ctx)[0].SPIIn
	if err := a.Engine().RekeyChild(ctx, spi, 0); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "CHILD rekey", func() bool { ts := a.OE().Tunnels(ctx); return len(ts) == 1 && ts[0].SPIIn != spi })
	if err := a.Conns().Down(ctx, "office"); err != nil {
		t.Fatalf("conn down after an IKE rekey: %v", err)
	}
	oetest.WaitFor(t, "B's tunnel gone", func() bool { return len(b.OE().Tunnels(ctx)) == 0 })
	oetest.WaitFor(t, "updown down", func() bool { b, _ := os.ReadFile(log); return strings.Contains(string(b), "down-client") })
	verbs, _ := os.ReadFile(log)
	if got := strings.Fields(string(verbs)); strings.Join(got, " ") != "up-client down-client" {
		t.Errorf("updown ran %q, want up-client then down-client once each", got)
	}
}

func TestConnIKELifetime(t *testing.T) {
	for _, rekey := range []bool{true, false} {
		t.Run(fmt.Sprintf("rekey=%v", rekey), func(t *testing.T) {
			a, _, _, _ := pskPair(t, "", func(c *conn.Conn) { c.IKELifetime, c.Rekey = 400*time.Millisecond, rekey })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Conns().Up(ctx, "office"); err != nil {
				t.Fatal(err)
			}
			first := a.Engine().SAs()[0].ID
			if !rekey {
				oetest.WaitFor(t, "IKE SA deleted at its lifetime", func() bool { return len(a.Engine().SAs()) == 0 })
				oetest.WaitFor(t, "conn down", func() bool { return a.Conns().List()[0].Tunnels == 0 })
				return
			}
			// Rekeyed, and the new IKE SA is rekeyed again in its turn.
			seen := map[ike.SAID]bool{first: true}
			oetest.WaitFor(t, "two IKE rekeys", func() bool {
				for _, sa := range a.Engine().SAs() {
					seen[sa.ID] = true
				}
				return len(seen) >= 3
			})
			if st := a.Conns().List()[0]; st.State != conn.StateUp || st.Tunnels != 1 {
				t.Errorf("after IKE rekeys: %+v", st)
			}
		})
	}
}
