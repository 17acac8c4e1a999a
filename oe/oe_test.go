package oe

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/policygroups"
)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
	addrD = netip.MustParseAddr("198.18.0.4")
)

func TestSetPolicyUpdatesOnlyChangedTraps(t *testing.T) {
	o, dp := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	p1 := oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n", "clear": "198.18.0.53\n", "block": "2001:db8:bad::/48\n"})
	if _, err := o.SetPolicy(ctx, p1); err != nil {
		t.Fatal(err)
	}
	traps := dp.Traps()
	if len(traps) != 3 {
		t.Fatalf("traps = %v", traps)
	}
	before := len(dp.Calls())
	p2 := oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n", "clear": "198.18.0.53\n", "clear-or-private": "203.0.113.0/24\n"})
	d, err := o.SetPolicy(ctx, p2)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != 1 || len(d.Removed) != 1 || len(d.Changed) != 1 {
		t.Fatalf("diff = %+v", d)
	}
	calls := dp.Calls()[before:]
	if len(calls) != 3 {
		t.Fatalf("reload made %d data plane calls, want 3 (one per change): %v", len(calls), calls)
	}
	got := map[netip.Prefix]kernel.Group{}
	for _, tr := range dp.Traps() {
		got[tr.Prefix] = tr.Group
	}
	if got[netip.MustParsePrefix("198.18.0.0/24")] != kernel.GroupPrivate ||
		got[netip.MustParsePrefix("198.18.0.53/32")] != kernel.GroupClear ||
		got[netip.MustParsePrefix("203.0.113.0/24")] != kernel.GroupClearOrPrivate {
		t.Errorf("traps after reload: %v", got)
	}
	if _, ok := got[netip.MustParsePrefix("2001:db8:bad::/48")]; ok {
		t.Error("removed block prefix still trapped")
	}
}

func TestNoKeyFallsBackToClearWithoutIKE(t *testing.T) {
	dns := oetest.NewDNS()
	sent := &countingSender{}
	o, dp := newTestOE(t, Config{NullAuth: NullOff}, dns, sent, oetest.NewKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"}))
	go o.Run(ctx)
	start := time.Now()
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}, Group: kernel.GroupPrivateOrClear, Time: start})
	oetest.WaitFor(t, "pass shunt", func() bool { _, ok := oetest.ShuntFor(dp, addrD.String()); return ok })
	s, _ := oetest.ShuntFor(dp, addrD.String())
	if s.Kind != kernel.ShuntPass || s.Lifetime != 15*time.Minute || !hasString([]string{s.Reason}, "no key in DNS") {
		t.Errorf("shunt = %+v", s)
	}
	if got := o.Shunts(); len(got) != 1 || got[0].Group != policygroups.PrivateOrClear {
		t.Errorf("Shunts() = %+v", got)
	}
	if f := o.Stats().Failures["no-key"]; f != 1 {
		t.Errorf("failures = %v", o.Stats().Failures)
	}
}

func TestPrivateNoKeyDrops(t *testing.T) {
	o, dp := newTestOE(t, Config{NullAuth: NullOff, ShuntLifetime: time.Minute}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	go o.Run(ctx)
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}, Group: kernel.GroupPrivate})
	oetest.WaitFor(t, "drop shunt", func() bool { _, ok := oetest.ShuntFor(dp, addrD.String()); return ok })
	if s, _ := oetest.ShuntFor(dp, addrD.String()); s.Kind != kernel.ShuntDrop || s.Lifetime != time.Minute {
		t.Errorf("shunt = %+v", s)
	}
}

func TestDNSFailureAppliesFailurePolicy(t *testing.T) {
	dns := oetest.NewDNS()
	dns.Fail(dnskey.AddrID(addrD), errors.Join(dnskey.ErrDNSFailure, errors.New("timeout")))
	o, dp := newTestOE(t, Config{}, dns, nil, oetest.NewKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	go o.Run(ctx)
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}})
	oetest.WaitFor(t, "drop shunt", func() bool { _, ok := oetest.ShuntFor(dp, addrD.String()); return ok })
	if s, _ := oetest.ShuntFor(dp, addrD.String()); s.Kind != kernel.ShuntDrop || !hasString([]string{s.Reason}, "DNS") {
		t.Errorf("shunt = %+v", s)
	}
	if o.Stats().Failures["dns-failure"] != 1 {
		t.Errorf("failures = %v", o.Stats().Failures)
	}
}

func TestAcquireForNonInitiatingGroupShunts(t *testing.T) {
	o, dp := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	ctx := context.Background()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"block": "198.18.0.4\n", "clear": "198.18.0.2\n"}))
	o.onAcquire(ctx, kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}})
	o.onAcquire(ctx, kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrB}})
	if s, ok := oetest.ShuntFor(dp, addrD.String()); !ok || s.Kind != kernel.ShuntDrop {
		t.Errorf("block: %+v %v", s, ok)
	}
	if s, ok := oetest.ShuntFor(dp, addrB.String()); !ok || s.Kind != kernel.ShuntPass {
		t.Errorf("clear: %+v %v", s, ok)
	}
}

func TestResponderPolicy(t *testing.T) {
	dns := oetest.NewDNS()
	gw := netip.MustParseAddr("198.18.0.5")
	client := netip.MustParseAddr("198.18.1.10")
	dns.Publish(dnskey.AddrID(client), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: gw}, oetest.NewKey(t).Public())
	o, _ := newTestOE(t, Config{NullAuth: NullOff}, dns, nil, oetest.NewKey(t))
	ctx := context.Background()
	o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{
		"clear-or-private": "198.18.0.0/16\n",
		"clear":            "198.18.0.9\n",
	}))
	me := addrB
	// Group checks.
	if err := o.AcceptAuth(ctx, ike.AuthRequest{Remote: addrA, Local: me, Kind: ike.AuthKindPubkey}); err != nil {
		t.Errorf("clear-or-private pubkey peer refused: %v", err)
	}
	if err := o.AcceptAuth(ctx, ike.AuthRequest{Remote: netip.MustParseAddr("198.18.0.9"), Local: me, Kind: ike.AuthKindPubkey}); err == nil {
		t.Error("peer in our clear group accepted")
	}
	if err := o.AcceptAuth(ctx, ike.AuthRequest{Remote: addrA, Local: me, Kind: ike.AuthKindNull}); err == nil {
		t.Error("NULL accepted with null_auth=off")
	}
	if err := o.AcceptAuth(ctx, ike.AuthRequest{Remote: addrA, Local: me, Kind: ike.AuthKindPSK}); err == nil {
		t.Error("PSK accepted for OE")
	}
	if err := o.AcceptAuth(ctx, ike.AuthRequest{Remote: netip.MustParseAddr("203.0.113.1"), Local: me, Kind: ike.AuthKindPubkey}); err == nil {
		t.Error("peer with no group (clear by default) accepted")
	}

	// Host to host, transport mode; a wide proposal is narrowed.
	dec, err := o.Child(ctx, ike.ChildRequest{PeerID: ike.AddrIdentity(addrA), Auth: ike.AuthKindPubkey, Remote: addrA, Local: me,
		TSi: []ike.TrafficSelector{{Type: ike.TSIPv4AddrRange, Start: netip.MustParseAddr("0.0.0.0"), End: netip.MustParseAddr("255.255.255.255"), EndPort: 65535}},
		TSr: []ike.TrafficSelector{ike.HostSelector(me)}, Transport: true})
	if err != nil || dec.Mode != ike.ModeTransport || len(dec.TSi) != 1 || dec.TSi[0].Start != addrA || dec.TSr[0].Start != me {
		t.Errorf("host to host: %+v %v", dec, err)
	}

	// Delegation: gw speaks for client only with the client's record.
	req := ike.ChildRequest{PeerID: ike.AddrIdentity(gw), Auth: ike.AuthKindPubkey, Remote: gw, Local: me,
		TSi: []ike.TrafficSelector{ike.HostSelector(client)}, TSr: []ike.TrafficSelector{ike.HostSelector(me)}}
	if dec, err := o.Child(ctx, req); err != nil || dec.Mode != ike.ModeTunnel || dec.TSi[0].Start != client {
		t.Errorf("delegated client: %+v %v", dec, err)
	}
	imposter := netip.MustParseAddr("198.18.0.6")
	req.PeerID, req.Remote = ike.AddrIdentity(imposter), imposter
	if _, err := o.Child(ctx, req); err == nil || !errors.Is(err, errRefused) {
		t.Errorf("gateway without a record accepted: %v", err)
	}
	req.PeerID, req.Remote, req.Auth = ike.AddrIdentity(gw), gw, ike.AuthKindNull
	if _, err := o.Child(ctx, req); err == nil {
		t.Error("NULL-authenticated gateway accepted for a client")
	}
	if o.Stats().Refused < 4 {
		t.Errorf("refusals not counted: %+v", o.Stats())
	}
}

func TestPeerKeys(t *testing.T) {
	dns := oetest.NewDNS()
	own, other := oetest.NewKey(t), oetest.NewKey(t)
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, own.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, other.Public())
	o, _ := newTestOE(t, Config{}, dns, nil, oetest.NewKey(t))
	keys, err := o.PeerKeys(context.Background(), ike.AddrIdentity(addrB), addrB)
	if err != nil || len(keys) != 1 || !own.Public().(ed25519.PublicKey).Equal(keys[0]) {
		t.Errorf("keys = %v, %v (want only its own)", keys, err)
	}
	if _, err := o.PeerKeys(context.Background(), ike.AddrIdentity(addrD), addrD); !errors.Is(err, ike.ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := o.PeerKeys(context.Background(), ike.NullIdentity(), addrD); !errors.Is(err, ike.ErrNoKey) {
		t.Errorf("null identity: %v", err)
	}
}

// countingSender counts packets and loses them.
type countingSender struct{ n int }

func (c *countingSender) Send([]byte, netip.AddrPort, netip.AddrPort) error { c.n++; return nil }
