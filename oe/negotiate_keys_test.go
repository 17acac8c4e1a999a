package oe

import (
	"context"
	"crypto"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// hubOE is an orchestrator at addr on h, with its own DNS and data plane.
func hubOE(t *testing.T, h *hub, addr netip.Addr, key crypto.Signer, dns KeySource, dp kernel.Dataplane, cfg Config) *OE {
	t.Helper()
	o, err := New(cfg, dp, dns, ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: hubPort{h}, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	h.m[addr] = o
	return o
}

// TestOneLookupPerNegotiation: a negotiation looks the target's key up in
// DNS once, and IKE verifies the peer with the key that look-up found:
// the direct case (the target is its own gateway), and the gateway case,
// where the gateway publishes nothing at its own name and is verified
// with the key its clients' records carry. Two negotiations through one
// gateway run at once; each keeps its own keys to the end.
func TestOneLookupPerNegotiation(t *testing.T) {
	c1, c2 := netip.MustParseAddr("198.18.0.21"), netip.MustParseAddr("198.18.0.22")
	keyA, keyB, keyD := oetest.NewKey(t), oetest.NewKey(t), oetest.NewKey(t)
	publish := func(dns *oetest.DNS) {
		dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
		dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
		// D is c1's and c2's gateway, and publishes no key of its own.
		dns.Publish(dnskey.AddrID(c1), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, keyD.Public())
		dns.Publish(dnskey.AddrID(c2), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, keyD.Public())
	}
	dnsA, dnsPeers := oetest.NewDNS(), oetest.NewDNS() // A's look-ups counted apart
	publish(dnsA)
	publish(dnsPeers)
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dnsA, fake.New(time.Now), Config{})
	hubOE(t, h, addrB, keyB, dnsPeers, fake.New(time.Now), Config{})
	hubOE(t, h, addrD, keyD, dnsPeers, fake.New(time.Now), Config{GatewayFor: []netip.Prefix{netip.PrefixFrom(c1, 32), netip.PrefixFrom(c2, 32)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range h.m {
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	}

	if err := a.Up(ctx, addrA, addrB); err != nil {
		t.Fatalf("A to B: %v", err)
	}
	if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 1 {
		t.Errorf("A looked B's key up %d times for one negotiation, want 1", n)
	}

	errs := make(chan error, 2)
	for _, target := range []netip.Addr{c1, c2} {
		go func() { errs <- a.Up(ctx, addrA, target) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("A through gateway D: %v", err)
		}
	}
	for _, c := range []netip.Addr{c1, c2} {
		if n := dnsA.LookupsOf(dnskey.AddrID(c)); n != 1 {
			t.Errorf("A looked %s's key up %d times for one negotiation, want 1", c, n)
		}
	}
	if n := dnsA.LookupsOf(dnskey.AddrID(addrD)); n != 0 {
		t.Errorf("A looked the gateway's own name up %d times; its key comes from the clients' records", n)
	}
	if dnsA.Lookups() != 3 {
		t.Errorf("A made %d DNS look-ups for three negotiations, want 3", dnsA.Lookups())
	}
	if n := len(a.Engine().SAs()); n != 3 {
		t.Errorf("A holds %d IKE SAs, want 3 (with B, and with D for c1 and for c2)", n)
	}
}

// TestGatewayWrongKey: a gateway that signs with another key than the one
// its client's record names is not accepted, and Up's error says why in
// types: a *NegotiationError whose chain holds ike.ErrAuthentication.
func TestGatewayWrongKey(t *testing.T) {
	c1 := netip.MustParseAddr("198.18.0.21")
	keyA, keyD := oetest.NewKey(t), oetest.NewKey(t)
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(c1), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, oetest.NewKey(t).Public())
	dns.Publish(dnskey.AddrID(addrD), dnskey.Gateway{}, keyD.Public()) // D's own key must not be asked for
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dns, fake.New(time.Now), Config{NullAuth: NullOff})
	d := hubOE(t, h, addrD, keyD, dns, fake.New(time.Now), Config{GatewayFor: []netip.Prefix{netip.PrefixFrom(c1, 32)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	d.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	err := a.Up(ctx, addrA, c1)
	var ne *NegotiationError
	if !errors.As(err, &ne) {
		t.Fatalf("Up through a gateway with the wrong key: %v (%T), want a *NegotiationError", err, err)
	}
	if !errors.Is(err, ike.ErrAuthentication) {
		t.Errorf("Up's error %v does not hold ike.ErrAuthentication", err)
	}
	if ne.Result != ResultDrop || ne.Group.String() != "private" || ne.Gateway != addrD || ne.Target != c1 {
		t.Errorf("outcome %+v, want drop in group private through gateway %s", ne.Outcome, addrD)
	}
	if n := dns.LookupsOf(dnskey.AddrID(addrD)); n != 0 {
		t.Errorf("A looked the gateway's own key up %d times", n)
	}
	if f := a.Stats().Failures["ike-error"]; f != 1 {
		t.Errorf("failure classes %v, want ike-error once", a.Stats().Failures)
	}
}

// TestUpTypedErrors: Up's error is a *NegotiationError carrying the shunt
// left and the group, with the cause reachable by errors.Is.
func TestUpTypedErrors(t *testing.T) {
	dnsDown := errors.New("all servers failed")
	for _, tc := range []struct {
		name   string
		group  string
		fail   error // the fake DNS's answer for the target; nil: no key
		result Result
		is     []error
	}{
		{"no key, private-or-clear", "private-or-clear", nil, ResultClear, []error{dnskey.ErrNoKey}},
		{"no key, private", "private", nil, ResultDrop, []error{dnskey.ErrNoKey}},
		{"DNS failure", "private", errors.Join(dnskey.ErrDNSFailure, dnsDown), ResultDrop, []error{dnskey.ErrDNSFailure, dnsDown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := oetest.NewDNS()
			if tc.fail != nil {
				dns.Fail(dnskey.AddrID(addrD), tc.fail)
			}
			o, _ := newTestOE(t, Config{NullAuth: NullOff}, dns, nil, oetest.NewKey(t))
			ctx := context.Background()
			o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{tc.group: "198.18.0.0/24\n"}))
			err := o.Up(ctx, addrA, addrD)
			var ne *NegotiationError
			if !errors.As(err, &ne) {
				t.Fatalf("Up: %v (%T), want a *NegotiationError", err, err)
			}
			if ne.Result != tc.result || ne.Group.String() != tc.group || ne.Target != addrD {
				t.Errorf("outcome %+v, want %v in group %s", ne.Outcome, tc.result, tc.group)
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("Up's error %q does not hold %v", err, want)
				}
			}
		})
	}
}

// TestUpRefusesNoOEGroups: Up toward a destination in clear or block
// negotiates nothing and says why with ErrNoOE.
func TestUpRefusesNoOEGroups(t *testing.T) {
	for _, g := range []string{"clear", "block"} {
		t.Run(g, func(t *testing.T) {
			dns := oetest.NewDNS()
			o, _ := newTestOE(t, Config{NullAuth: NullOff}, dns, nil, oetest.NewKey(t))
			ctx := context.Background()
			o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{g: "198.18.0.0/24\n"}))
			err := o.Up(ctx, addrA, addrD)
			if !errors.Is(err, ErrNoOE) {
				t.Fatalf("Up toward a destination in %s: %v, want ErrNoOE", g, err)
			}
			if !strings.Contains(err.Error(), addrD.String()) || !strings.Contains(err.Error(), g) {
				t.Errorf("Up's error %q names neither the destination nor its group", err)
			}
			if n := dns.LookupsOf(dnskey.AddrID(addrD)); n != 0 {
				t.Errorf("%d DNS look-ups for a destination in %s, want none", n, g)
			}
		})
	}
}

// blockingDataplane is a fake data plane whose AllocSPI waits until its
// context ends, and reports that context's cause.
type blockingDataplane struct {
	*fake.Dataplane
	entered chan struct{}
	once    sync.Once
	mu      sync.Mutex
	cause   error
}

func (b *blockingDataplane) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	b.once.Do(func() { close(b.entered) })
	<-ctx.Done()
	b.mu.Lock()
	b.cause = context.Cause(ctx)
	b.mu.Unlock()
	return 0, context.Cause(ctx)
}

// TestStopReachesAllocSPI: stopping a negotiation (a reload moving its
// target out of the initiating groups) ends the context the engine's data
// plane calls run under, with the stop's cause; Up's error holds it.
func TestStopReachesAllocSPI(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	dp := &blockingDataplane{Dataplane: fake.New(time.Now), entered: make(chan struct{})}
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dns, dp, Config{NullAuth: NullOff, NegotiationTimeout: time.Minute})
	b := hubOE(t, h, addrB, keyB, dns, fake.New(time.Now), Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	b.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	errc := make(chan error, 1)
	go func() { errc <- a.Up(ctx, addrA, addrB) }()
	select {
	case <-dp.entered:
	case <-ctx.Done():
		t.Fatal("AllocSPI never called")
	}
	a.stopNegotiations(errPolicyChanged, func(netip.Addr) bool { return true })
	err := <-errc
	dp.mu.Lock()
	cause := dp.cause
	dp.mu.Unlock()
	if !errors.Is(cause, errPolicyChanged) {
		t.Errorf("AllocSPI's context ended with %v, want the stop's cause", cause)
	}
	var ne *NegotiationError
	if !errors.As(err, &ne) || !errors.Is(err, errPolicyChanged) {
		t.Errorf("Up: %v, want a *NegotiationError holding the stop's cause", err)
	}
}

// TestGatewayAfterEarlyDirectFailure: the attempt to the target as its
// own gateway, started beside the DNS look-up, fails before DNS answers
// (the target is an address of its gateway, which proves the gateway's
// identity, and the engine refuses that before it asks for a key). DNS
// then names the gateway: the negotiation goes there and comes up, rather
// than failing on the direct attempt's error (as TestTunnelsCoexist once
// saw, with a clear shunt for b's second address).
func TestGatewayAfterEarlyDirectFailure(t *testing.T) {
	c1 := netip.MustParseAddr("198.18.0.21")
	keyA, keyD := oetest.NewKey(t), oetest.NewKey(t)
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	dns.Publish(dnskey.AddrID(c1), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, keyD.Public())
	dnsA := oetest.NewDNS()
	dnsA.Publish(dnskey.AddrID(c1), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, keyD.Public())
	dnsA.SetDelay(300 * time.Millisecond) // the direct attempt fails well before this
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dnsA, fake.New(time.Now), Config{NullAuth: NullOff})
	d, err := New(Config{GatewayFor: []netip.Prefix{netip.PrefixFrom(c1, 32)}}, fake.New(time.Now), dns,
		ike.EngineConfig{Credentials: ike.Credentials{Signer: keyD, ID: ike.AddrIdentity(addrD)}, Sender: hubPort{h}, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	h.m[addrD], h.m[c1] = d, d // c1 is an address of D's too
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"}))
	d.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"}))
	if err := a.Up(ctx, addrA, c1); err != nil {
		t.Fatalf("A to c1 through its gateway D, after the direct attempt failed early: %v", err)
	}
	var viaD bool
	for _, sa := range a.Engine().SAs() {
		viaD = viaD || (sa.Remote.Addr() == addrD && !sa.Established.IsZero())
	}
	if !viaD {
		t.Errorf("A's IKE SAs %+v: none established with the gateway %s", a.Engine().SAs(), addrD)
	}
}
