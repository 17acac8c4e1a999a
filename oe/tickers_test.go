package oe

import (
	"context"
	"crypto"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// clockPair is A and B with an OE tunnel between them, each running (Run)
// on the fake clock clk; their engines keep the system clock, so the
// handshake and B's liveness check run as usual. B takes bCfg.
func clockPair(t *testing.T, clk *clocktest.Fake, aCfg, bCfg Config) (a, b *OE, net *cuttable) {
	t.Helper()
	net = &cuttable{m: map[netip.Addr]*OE{}, cut: map[netip.Addr]bool{}}
	dns := oetest.NewDNS()
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mk := func(cfg Config, key crypto.Signer) *OE {
		cfg.Clock, cfg.ShutdownTimeout = clk, 10*time.Millisecond
		o, err := New(cfg, fake.New(clk.Now), dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: cuttablePort{net}, GiveUp: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
		go o.Run(ctx)
		return o
	}
	a, b = mk(aCfg, keyA), mk(bCfg, keyB)
	net.m[addrA], net.m[addrB] = a, b
	upCtx, upCancel := context.WithTimeout(ctx, 10*time.Second)
	defer upCancel()
	if err := a.Up(upCtx, addrA, addrB); err != nil {
		t.Fatal(err)
	}
	oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.Tunnels(ctx)) == 1 })
	return a, b, net
}

// stepUntil moves clk forward by step until done holds (given the Run
// goroutines a moment to take each tick), and returns how far it moved;
// it fails the test past limit. It never waits for the clock's periods:
// only for the goroutines.
func stepUntil(t *testing.T, clk *clocktest.Fake, step, limit time.Duration, done func() bool) time.Duration {
	t.Helper()
	start := clk.Now()
	for {
		clk.Advance(step)
		moved := clk.Now().Sub(start)
		deadline := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			if done() {
				return moved
			}
			time.Sleep(2 * time.Millisecond)
		}
		if moved > limit {
			t.Fatalf("not done after the clock moved %v", moved)
		}
	}
}

// TestIdleExpiryOnClock: an idle tunnel is deleted when the orchestrator's
// clock passes IdleTimeout (here an hour of fake time, no sleeping), and
// not before.
func TestIdleExpiryOnClock(t *testing.T) {
	const idle = time.Hour
	clk := clocktest.New()
	a, _, _ := clockPair(t, clk, Config{IdleTimeout: idle}, Config{IdleTimeout: 4 * idle})
	moved := stepUntil(t, clk, idle/8, 3*idle, func() bool { return a.Stats().IdleDeletes > 0 })
	if moved < idle {
		t.Errorf("the tunnel was deleted as idle after %v, before the idle timeout %v", moved, idle)
	}
	oetest.WaitFor(t, "A's idle tunnel gone", func() bool { return len(a.Tunnels(context.Background())) == 0 })
}

// TestResponderProbeOnClock: B answered A, which then went silent: B's
// probe ticker, on B's clock, checks the tunnel once the clock passes
// ResponderProbe (an hour of fake time, no sleeping), and the SAs go when
// A does not answer (within ResponderProbeAnswer, on the engine's clock).
func TestResponderProbeOnClock(t *testing.T) {
	const probe = time.Hour
	clk := clocktest.New()
	_, b, net := clockPair(t, clk, Config{IdleTimeout: 100 * probe}, Config{IdleTimeout: 100 * probe, ResponderProbe: probe, ResponderProbeAnswer: 300 * time.Millisecond})
	net.mu.Lock()
	net.cut[addrA] = true
	net.mu.Unlock()
	moved := stepUntil(t, clk, probe/8, 3*probe, func() bool { return len(b.Tunnels(context.Background())) == 0 })
	if moved < probe {
		t.Errorf("B deleted the silent tunnel after %v, before ResponderProbe %v", moved, probe)
	}
}
