package dispatch_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

var (
	gwA    = netip.MustParseAddr("192.0.2.1")
	gwB    = netip.MustParseAddr("198.51.100.1")
	netA   = netip.MustParsePrefix("10.1.0.0/16")
	netB   = netip.MustParsePrefix("10.2.0.0/16")
	pskKey = []byte("a shared secret of some length")
)

// pipe delivers one engine's packets to another's, as UDP would.
type pipe struct {
	to atomic.Pointer[dispatch.Dispatcher]
}

func (p *pipe) Send(pkt []byte, local, remote netip.AddrPort) error {
	d := p.to.Load()
	if d == nil {
		return errors.New("no peer")
	}
	b := append([]byte(nil), pkt...)
	go d.Engine().HandlePacket(b, remote, local)
	return nil
}

func stack(t testing.TB, cfg oe.Config, sender ike.Sender) (*dispatch.Dispatcher, *fake.Dataplane) {
	t.Helper()
	dp := fake.New(time.Now)
	d, err := dispatch.New(dispatch.Config{OE: cfg}, dp, oetest.NewDNS(), ike.EngineConfig{
		Credentials: ike.Credentials{PSK: func(ike.Identity) []byte { return pskKey }}, Sender: sender, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dp
}

// connPair is gateways A and B, each with a conn for the other, and the
// conn's tunnel up; A runs with the OE configuration cfg.
func connPair(t *testing.T, cfg oe.Config) (a, b *dispatch.Dispatcher, dpA *fake.Dataplane) {
	t.Helper()
	pa, pb := &pipe{}, &pipe{}
	a, dpA = stack(t, cfg, pa)
	b, _ = stack(t, oe.Config{}, pb)
	pa.to.Store(b)
	pb.to.Store(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	if err := b.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office-b", Local: gwB, Remote: gwA, LocalSubnets: []netip.Prefix{netB},
		RemoteSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.OE().Tunnels(ctx)) == 1 })
	return a, b, dpA
}

// TestConnTunnelsAreNotOEs: a conn's tunnel is installed and counted as
// the conn's, and OE's policy reload and idle expiry leave it alone.
func TestConnTunnelsAreNotOEs(t *testing.T) {
	a, _, dpA := connPair(t, oe.Config{IdleTimeout: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if s := a.Conns().Stats(); s.TunnelsUp != 1 {
		t.Errorf("conn stats: %+v, want one tunnel up", s)
	}
	if s := a.OE().Stats(); s.TunnelsUp != 0 {
		t.Errorf("OE stats: %+v, want none of OE's own", s)
	}
	// The peer's address in group block: OE would delete its tunnels.
	if _, err := a.OE().SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"block": gwB.String() + "/32\n"})); err != nil {
		t.Fatal(err)
	}
	// Idle expiry runs every second; the tunnel has never carried a packet.
	go a.Run(ctx)
	time.Sleep(1500 * time.Millisecond)
	if n := len(dpA.SAs()); n != 1 {
		t.Errorf("after a policy reload and the idle timer, A holds %d SA pairs, want the conn's", n)
	}
	if st := a.Conns().List()[0]; st.State != conn.StateUp || st.Tunnels != 1 {
		t.Errorf("conn after OE's timers: %+v", st)
	}
}

// TestAcquireRouting: an acquire inside a routed conn goes to the conn
// (and starts its negotiation); one for a policy group goes to OE.
func TestAcquireRouting(t *testing.T) {
	d, dp := stack(t, oe.Config{}, discardSender{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := d.OE().SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "10.0.0.0/8\n"})); err != nil {
		t.Fatal(err)
	}
	if err := d.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK, Auto: "route", KeyingTries: 1}); err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: netip.MustParseAddr("10.1.0.5"), Dst: netip.MustParseAddr("10.2.0.7")}, Time: time.Now()})
	oetest.WaitFor(t, "the conn's acquire", func() bool { return d.Conns().Stats().Acquires == 1 })
	if st := d.Conns().List()[0]; st.State != conn.StateNegotiating {
		t.Errorf("conn after its acquire: %+v, want negotiating", st)
	}
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: gwA, Dst: netip.MustParseAddr("10.5.0.7")}, Time: time.Now()})
	oetest.WaitFor(t, "OE's acquire", func() bool { return d.OE().Stats().Acquires == 1 })
	if n := d.Conns().Stats().Acquires; n != 1 {
		t.Errorf("the conns took %d acquires, want only their own", n)
	}
}

// discardSender loses every packet.
type discardSender struct{}

func (discardSender) Send([]byte, netip.AddrPort, netip.AddrPort) error { return nil }

// TestProbeSeesConnTunnels: OE's responder probe covers every tunnel in
// the shared table: B's tunnel of a conn whose initiator vanished goes
// when the probe is not answered.
func TestProbeSeesConnTunnels(t *testing.T) {
	pa, pb := &pipe{}, &pipe{}
	a, _ := stack(t, oe.Config{ShutdownTimeout: 10 * time.Millisecond}, pa)
	b, _ := stack(t, oe.Config{ResponderProbe: 100 * time.Millisecond, ResponderProbeAnswer: 200 * time.Millisecond,
		ShutdownTimeout: 10 * time.Millisecond}, pb)
	pa.to.Store(b)
	pb.to.Store(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	if err := b.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office-b", Local: gwB, Remote: gwA, LocalSubnets: []netip.Prefix{netB},
		RemoteSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.OE().Tunnels(ctx)) == 1 })
	pb.to.Store(nil) // A is gone without a word
	oetest.WaitFor(t, "B's silent conn tunnel probed and deleted", func() bool { return len(b.OE().Tunnels(ctx)) == 0 })
	if st := b.Conns().List()[0]; st.Tunnels != 0 {
		t.Errorf("B's conn after the probe: %+v", st)
	}
}

// TestLocalPeerKeys: a pubkey conn's key file is at hand for the engine
// (ike.LocalKeyResolver, taken without a goroutine per look-up); a peer
// no conn names is not, and goes to OE's keys from DNS.
func TestLocalPeerKeys(t *testing.T) {
	d, _ := stack(t, oe.Config{}, &pipe{})
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer := ike.AddrIdentity(gwB)
	if err := d.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "keyed", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindPubkey, RemoteID: peer, RemoteKeys: []crypto.PublicKey{key}}); err != nil {
		t.Fatal(err)
	}
	var r ike.KeyResolver = d
	local, ok := r.(ike.LocalKeyResolver)
	if !ok {
		t.Fatal("the dispatcher has no keys at hand for the engine (ike.LocalKeyResolver)")
	}
	if keys, ok := local.LocalPeerKeys(peer, gwB); !ok || len(keys) != 1 || !key.Equal(keys[0]) {
		t.Errorf("the conn's peer: keys %v, ok %v; want the conn's key", keys, ok)
	}
	if keys, ok := local.LocalPeerKeys(ike.AddrIdentity(gwA), netip.MustParseAddr("203.0.113.9")); ok {
		t.Errorf("a peer no conn names: keys %v at hand, want none (OE's, from DNS)", keys)
	}
}
