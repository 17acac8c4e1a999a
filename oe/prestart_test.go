package oe

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestPrestart: a prestart negotiates with no packet trapped and brings
// the tunnel up; it starts nothing toward a target in a group that does
// not initiate, one with a tunnel up, or one whose last attempt left a
// shunt.
func TestPrestart(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dns, fake.New(time.Now), Config{NullAuth: NullOff})
	hubOE(t, h, addrB, keyB, dns, fake.New(time.Now), Config{NullAuth: NullOff})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pol := oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n", "clear-or-private": "198.18.1.0/24\n"})
	for _, o := range h.m {
		o.SetPolicy(ctx, pol)
	}

	if a.Prestart(ctx, addrA, netip.MustParseAddr("198.18.1.9")) {
		t.Error("prestarted toward clear-or-private, a group that does not initiate")
	}
	if !a.Prestart(ctx, addrA, addrB) {
		t.Fatal("no prestart toward B")
	}
	waitFor(t, func() bool { return len(a.tunnels.ToPeer(addrB)) > 0 }, "a tunnel to B after the prestart")
	if s := a.Stats(); s.Acquires != 0 || s.Handshakes != 1 {
		t.Errorf("stats %+v: want one handshake and no acquire", s)
	}
	if a.Prestart(ctx, addrA, addrB) {
		t.Error("prestarted again toward B with its tunnel up")
	}

	// Nobody at .77: the attempt fails and leaves the failure shunt,
	// which a second prestart respects.
	nobody := netip.MustParseAddr("198.18.0.77")
	if !a.Prestart(ctx, addrA, nobody) {
		t.Fatal("no prestart toward .77")
	}
	waitFor(t, func() bool { return len(a.Shunts()) > 0 }, "a failure shunt for .77")
	if a.Prestart(ctx, addrA, nobody) {
		t.Error("prestarted again toward .77 under its failure shunt")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 8s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAwaitNegotiation: the wait the DNS stub's hold makes ends when the
// prestarted negotiation does: with the tunnel up (nil), or with its
// failure and the shunt set; with none running it does not wait.
func TestAwaitNegotiation(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dns, fake.New(time.Now), Config{NullAuth: NullOff})
	hubOE(t, h, addrB, keyB, dns, fake.New(time.Now), Config{NullAuth: NullOff})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pol := oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"})
	for _, o := range h.m {
		o.SetPolicy(ctx, pol)
	}
	if err := a.AwaitNegotiation(ctx, addrB); err != nil {
		t.Errorf("with no negotiation running: %v", err)
	}
	if !a.Prestart(ctx, addrA, addrB) {
		t.Fatal("no prestart toward B")
	}
	if err := a.AwaitNegotiation(ctx, addrB); err != nil {
		t.Fatalf("the negotiation with B: %v", err)
	}
	if len(a.tunnels.ToPeer(addrB)) == 0 {
		t.Error("the wait ended before the tunnel to B was up")
	}

	nobody := netip.MustParseAddr("198.18.0.77")
	if !a.Prestart(ctx, addrA, nobody) {
		t.Fatal("no prestart toward .77")
	}
	err := a.AwaitNegotiation(ctx, nobody)
	var ne *NegotiationError
	if !errors.As(err, &ne) || ne.Target != nobody {
		t.Fatalf("the failed negotiation with .77: %v, want its NegotiationError", err)
	}
	if len(a.Shunts()) == 0 {
		t.Error("the wait ended before the failure shunt was set")
	}
}
