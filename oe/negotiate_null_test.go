package oe

import (
	"context"
	"crypto"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// dropFirst is a pipe that loses the first datagram it is given.
type dropFirst struct {
	pipe
	sent atomic.Int32
}

func (d *dropFirst) Send(pkt []byte, local, remote netip.AddrPort) error {
	if d.sent.Add(1) == 1 {
		return nil
	}
	return d.pipe.Send(pkt, local, remote)
}

// unsignedPair is A (B in its private group) and B (A in clear-or-private),
// both with keys, talking IKE in memory through toB and toA. B can verify
// A; A finds only an unsigned key for B (ErrInsecure). Each one's DNS
// answers after its delay.
func unsignedPair(t *testing.T, delayA, delayB time.Duration, toB *pipe, toA interface {
	ike.Sender
	peer() *pipe
}) (a, b *OE, dpA, dpB *fake.Dataplane) {
	t.Helper()
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dnsA, dnsB := oetest.NewDNS(), oetest.NewDNS()
	dnsA.SetDelay(delayA)
	dnsB.SetDelay(delayB)
	dnsA.Fail(dnskey.AddrID(addrB), fmt.Errorf("dnskey: %s: %w", addrB, dnskey.ErrInsecure))
	dnsB.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	mk := func(dns KeySource, key crypto.Signer, s ike.Sender) (*OE, *fake.Dataplane) {
		dp := fake.New(time.Now)
		o, err := New(Config{}, dp, dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: s, GiveUp: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o, dp
	}
	a, dpA = mk(dnsA, keyA, toB)
	b, dpB = mk(dnsB, keyB, toA)
	toB.to.Store(b)
	toA.peer().to.Store(a)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": addrB.String() + "\n"}))
	b.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"clear-or-private": addrA.String() + "\n"}))
	go a.Run(ctx)
	go b.Run(ctx)
	return a, b, dpA, dpB
}

func (p *pipe) peer() *pipe      { return p }
func (d *dropFirst) peer() *pipe { return &d.pipe }

// checkOneNullTunnel: A is up with NULL authentication, never lost a
// tunnel, and B holds exactly one tunnel for the flow.
func checkOneNullTunnel(t *testing.T, a, b *OE, dpA *fake.Dataplane) {
	t.Helper()
	oetest.WaitFor(t, "a NULL tunnel on a", func() bool {
		ts := a.tunnels.ToPeer(addrB)
		return len(ts) == 1 && ts[0].Auth == ike.AuthKindNull
	})
	time.Sleep(400 * time.Millisecond) // anything late (the signed attempt on B) would land by now
	if ts := a.tunnels.ToPeer(addrB); len(ts) != 1 || ts[0].Auth != ike.AuthKindNull {
		t.Errorf("a's tunnels to b: %s, want one, NULL", authsOf(ts))
	}
	if ts := b.tunnels.ToPeer(addrA); len(ts) != 1 || ts[0].Auth != ike.AuthKindNull {
		t.Errorf("b's tunnels to a: %s, want one, NULL", authsOf(ts))
	}
	for _, m := range dpA.Methods() {
		if m == "DeleteSA" {
			t.Errorf("a lost an SA pair: %v", dpA.Methods())
		}
	}
	if s, ok := oetest.ShuntFor(dpA, addrB.String()); ok {
		t.Errorf("a set a shunt: %+v", s)
	}
}

func authsOf(ts []tunnel.Tunnel) string {
	var out []string
	for _, tn := range ts {
		out = append(out, fmt.Sprintf("%08x (%s)", tn.InSPI(), tn.Auth))
	}
	return fmt.Sprint(out)
}

// TestUnsignedKeyDNSFirst: DNS says "unsigned" before IKE_SA_INIT is
// answered (b's first answer is lost): the signed attempt is withdrawn
// without a trace and the NULL one comes up — its SPI is not refused by
// the gate of the attempt it replaced.
func TestUnsignedKeyDNSFirst(t *testing.T) {
	a, b, dpA, _ := unsignedPair(t, 0, 0, &pipe{}, &dropFirst{})
	dpA.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrB}, Group: kernel.GroupPrivate, Time: time.Now()})
	checkOneNullTunnel(t, a, b, dpA)
}

// TestUnsignedKeyIKEAuthFirst: a's IKE_AUTH (signed) is out before DNS
// says "unsigned", and b verifies a only after a NULL attempt would have
// finished. The signed attempt runs to its end (a cannot verify b, and
// tells b with a Delete) before the NULL one starts: b never holds two
// SAs for the flow, so it never replaces the one a uses.
func TestUnsignedKeyIKEAuthFirst(t *testing.T) {
	a, b, dpA, _ := unsignedPair(t, 50*time.Millisecond, 200*time.Millisecond, &pipe{}, &pipe{})
	dpA.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrB}, Group: kernel.GroupPrivate, Time: time.Now()})
	checkOneNullTunnel(t, a, b, dpA)
}
