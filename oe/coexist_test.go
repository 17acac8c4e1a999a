package oe

import (
	"context"
	"crypto"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestReplaceOlderOnlyWhenPeerReconnects: a new SA for the same flow
// replaces the old one only when the peer set it up; one we set up
// ourselves (both sides starting at once) leaves the older alone, so the
// two sides never each delete the other's SA.
func TestReplaceOlderOnlyWhenPeerReconnects(t *testing.T) {
	o, dp := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	sa := func(spi uint32, ikeSPI byte, initiator bool) ike.ChildSA {
		return ike.ChildSA{SPIIn: spi, SPIOut: spi + 1, Local: addrB, Remote: addrA, Initiator: initiator, Mode: ike.ModeTunnel,
			IKESPIi: ike.SPI{ikeSPI}, IKESPIr: ike.SPI{ikeSPI + 1}, PeerID: ike.AddrIdentity(addrA),
			TSLocal: []ike.TrafficSelector{ike.HostSelector(addrB)}, TSRemote: []ike.TrafficSelector{ike.HostSelector(addrA)},
			Encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}, EncrKeyIn: make([]byte, 36), EncrKeyOut: make([]byte, 36)}
	}
	for _, s := range []ike.ChildSA{sa(0x100, 1, false), sa(0x200, 3, true)} {
		if err := o.Install(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(dp.SAs()); n != 2 {
		t.Fatalf("after an SA we initiated for the same flow: %d pairs, want both", n)
	}
	if err := o.Install(ctx, sa(0x300, 5, false)); err != nil {
		t.Fatal(err)
	}
	for _, p := range dp.SAs() {
		if p.In.SPI != 0x300 {
			t.Errorf("after the peer set up a new SA for the flow, %08x is still installed", p.In.SPI)
		}
	}
}

// TestSecondTunnelToSamePeer: A reaches B (transport mode) and, at the
// same time, B's second address B2 whose record names B as its gateway
// (tunnel mode through B). Both flows come up as their own IKE SAs with
// B, and B keeps both: the second is neither a reconnection nor an
// INITIAL_CONTACT of A's.
func TestSecondTunnelToSamePeer(t *testing.T) {
	b2 := netip.MustParseAddr("198.18.0.12")
	dns := oetest.NewDNS()
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	dns.Publish(dnskey.AddrID(b2), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrB}, keyB.Public())
	h := &hub{m: map[netip.Addr]*OE{}}
	mk := func(addr netip.Addr, key crypto.Signer, cfg Config) (*OE, *fake.Dataplane) {
		dp := fake.New(time.Now)
		o, err := New(cfg, dp, dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: hubPort{h}, GiveUp: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		h.m[addr] = o
		return o, dp
	}
	a, _ := mk(addrA, keyA, Config{})
	b, dpB := mk(addrB, keyB, Config{GatewayFor: []netip.Prefix{netip.PrefixFrom(b2, 32)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	b.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"clear-or-private": "198.18.0.0/24\n"}))
	errs := make(chan error, 2)
	for _, target := range []netip.Addr{addrB, b2} {
		go func() { errs <- a.Up(ctx, addrA, target) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Let any deletion B would make happen before looking.
	time.Sleep(200 * time.Millisecond)
	locals := map[netip.Addr]bool{}
	for _, p := range dpB.SAs() {
		for _, l := range p.Local {
			locals[l.Addr()] = true
		}
	}
	if len(dpB.SAs()) != 2 || !locals[addrB] || !locals[b2] {
		t.Errorf("B's SA pairs: %s; want one for B and one for B2", describePairs(dpB.SAs()))
	}
	if n := len(b.Engine().SAs()); n != 2 {
		t.Errorf("B holds %d IKE SAs with A, want 2", n)
	}
	if n := len(a.tunnels.All()); n != 2 {
		t.Errorf("A holds %d tunnels, want 2", n)
	}
}

func describePairs(ps []kernel.SAPair) string {
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("[%v ⇄ %v in %08x] ", p.Local, p.Remote, p.In.SPI)
	}
	return s
}

// TestBothSidesAtOnce: A and B start a negotiation for the same flow at
// the same instant (each one's trap on the other's packets). Whatever the
// two sides keep, they keep the same: every SA pair one side holds, the
// other holds too, and at least one is left.
func TestBothSidesAtOnce(t *testing.T) {
	for i := range 10 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dns := oetest.NewDNS()
			keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
			dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
			dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
			h := &hub{m: map[netip.Addr]*OE{}}
			mk := func(addr netip.Addr, key crypto.Signer) (*OE, *fake.Dataplane) {
				dp := fake.New(time.Now)
				o, err := New(Config{}, dp, dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: hubPort{h}, GiveUp: 2 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { o.Close() })
				h.m[addr] = o
				return o, dp
			}
			a, dpA := mk(addrA, keyA)
			b, dpB := mk(addrB, keyB)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, o := range []*OE{a, b} {
				o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
			}
			errs := make(chan error, 2)
			go func() { errs <- a.Up(ctx, addrA, addrB) }()
			go func() { errs <- b.Up(ctx, addrB, addrA) }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			oetest.WaitFor(t, "both sides to hold the same SA pairs", func() bool {
				pa, pb := dpA.SAs(), dpB.SAs()
				if len(pa) == 0 || len(pa) != len(pb) {
					return false
				}
				for _, p := range pa {
					found := false
					for _, q := range pb {
						found = found || p.In.SPI == q.Out.SPI && p.Out.SPI == q.In.SPI
					}
					if !found {
						return false
					}
				}
				return true
			})
		})
	}
}
