package oe

import (
	"context"
	"crypto"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// cuttable delivers datagrams between orchestrators by address until a
// host is cut off, as if it had crashed.
type cuttable struct {
	mu  sync.Mutex
	m   map[netip.Addr]*OE
	cut map[netip.Addr]bool
}

type cuttablePort struct{ c *cuttable }

func (p cuttablePort) Send(pkt []byte, local, remote netip.AddrPort) error {
	p.c.mu.Lock()
	o, dead := p.c.m[remote.Addr()], p.c.cut[remote.Addr()] || p.c.cut[local.Addr()]
	p.c.mu.Unlock()
	if o == nil || dead {
		return errors.New("no host at " + remote.Addr().String())
	}
	b := append([]byte(nil), pkt...)
	go o.Engine().HandlePacket(b, remote, local)
	return nil
}

// probePair is host A (initiator of an OE tunnel) and B (responder,
// probing silent tunnels after probe, waiting answer for the answer) with
// B's tunnel up. (Before conns moved to oe/conn, A brought the tunnel up
// as a configured conn; the probe does not care whose tunnel it is.)
func probePair(t *testing.T, probe, answer time.Duration) (a, b *OE, dpB *fake.Dataplane, net *cuttable) {
	t.Helper()
	net = &cuttable{m: map[netip.Addr]*OE{}, cut: map[netip.Addr]bool{}}
	dns := oetest.NewDNS()
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	mk := func(cfg Config, key crypto.Signer) (*OE, *fake.Dataplane) {
		dp := fake.New(time.Now)
		o, err := New(cfg, dp, dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: cuttablePort{net}, GiveUp: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o, dp
	}
	a, _ = mk(Config{ShutdownTimeout: 10 * time.Millisecond}, keyA)
	b, dpB = mk(Config{ResponderProbe: probe, ResponderProbeAnswer: answer, ShutdownTimeout: 10 * time.Millisecond}, keyB)
	net.m[addrA], net.m[addrB] = a, b
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range []*OE{a, b} {
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	}
	if err := a.Up(ctx, addrA, addrB); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.Tunnels(ctx)) == 1 })
	return a, b, dpB, net
}

// TestResponderProbeSilentPeer: B answered A, A then vanished without a
// word and nothing came in on B's tunnel: B's probe finds A dead and the
// SAs go within the answer bound.
func TestResponderProbeSilentPeer(t *testing.T) {
	_, b, _, net := probePair(t, 20*time.Millisecond, 300*time.Millisecond)
	ctx := context.Background()
	net.mu.Lock()
	net.cut[addrA] = true
	net.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	b.probeSilent(ctx)
	oetest.WaitFor(t, "B's tunnel deleted", func() bool { return len(b.Tunnels(ctx)) == 0 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the silent tunnel went after %v, want about the 300 ms answer bound", d)
	}
}

// TestResponderProbeLivePeer: a peer that answers keeps its tunnel, and
// a tunnel is probed once only.
func TestResponderProbeLivePeer(t *testing.T) {
	_, b, _, _ := probePair(t, 20*time.Millisecond, 5*time.Second)
	ctx := context.Background()
	time.Sleep(30 * time.Millisecond)
	st := b.Engine().Stats()
	b.probeSilent(ctx)
	oetest.WaitFor(t, "the probe's answer", func() bool {
		now := b.Engine().Stats()
		return now.Sent > st.Sent && now.Received > st.Received
	})
	time.Sleep(50 * time.Millisecond)
	if len(b.Tunnels(ctx)) != 1 {
		t.Fatalf("B lost the tunnel of a live peer")
	}
	sent := b.Engine().Stats().Sent
	b.probeSilent(ctx)
	time.Sleep(50 * time.Millisecond)
	if n := b.Engine().Stats().Sent - sent; n != 0 {
		t.Errorf("the tunnel was probed again (%d datagrams)", n)
	}
}

// TestResponderProbeNotDue: a tunnel that has received traffic, or is
// younger than the probe time, is not probed even if its peer is gone.
func TestResponderProbeNotDue(t *testing.T) {
	for _, traffic := range []bool{true, false} {
		probe := time.Hour // too young
		if traffic {
			probe = 20 * time.Millisecond
		}
		_, b, dpB, net := probePair(t, probe, 100*time.Millisecond)
		ctx := context.Background()
		net.mu.Lock()
		net.cut[addrA] = true
		net.mu.Unlock()
		if traffic {
			for _, sa := range dpB.SAs() {
				dpB.SetCounters(sa.ID(), kernel.Counters{InPackets: 1})
			}
		}
		time.Sleep(30 * time.Millisecond)
		sent := b.Engine().Stats().Sent
		b.probeSilent(ctx)
		time.Sleep(300 * time.Millisecond) // past the answer bound
		if n := b.Engine().Stats().Sent - sent; n != 0 || len(b.Tunnels(ctx)) != 1 {
			t.Errorf("traffic %v, probe %v: B sent %d datagrams and keeps %d tunnels", traffic, probe, n, len(b.Tunnels(ctx)))
		}
	}
}

// TestResponderProbeSkipsRekey: the tunnel a peer's rekey brought up is
// not probed: the peer has just completed the rekey. (Every tunnel
// rekeys: a probe per rekey would ask every peer once a lifetime, in
// waves with the rekeys of 10,000 peers made together.)
func TestResponderProbeSkipsRekey(t *testing.T) {
	a, b, _, net := probePair(t, 20*time.Millisecond, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	time.Sleep(30 * time.Millisecond)
	b.probeSilent(ctx) // the first tunnel's probe, answered
	oetest.WaitFor(t, "the first probe's answer", func() bool { return b.Engine().Stats().Received > 0 })
	ta := a.Tunnels(ctx)
	if len(ta) != 1 {
		t.Fatalf("A has %d tunnels", len(ta))
	}
	if err := a.Engine().RekeyChild(ctx, ta[0].SPIIn, 0); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's rekeyed tunnel alone", func() bool {
		tb := b.tunnels.All()
		return len(tb) == 1 && tb[0].Rekey()
	})
	net.mu.Lock()
	net.cut[addrA] = true
	net.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	sent := b.Engine().Stats().Sent
	b.probeSilent(ctx)
	time.Sleep(300 * time.Millisecond) // past the answer bound
	if n := b.Engine().Stats().Sent - sent; n != 0 || len(b.Tunnels(ctx)) != 1 {
		t.Errorf("B sent %d datagrams after the rekey and keeps %d tunnels: the rekeyed tunnel was probed", n, len(b.Tunnels(ctx)))
	}
}
