package oe

import (
	"context"
	"crypto"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// namedOE is hubOE with an identity of its own (Credentials.ID).
func namedOE(t *testing.T, h *hub, addr netip.Addr, id ike.Identity, key crypto.Signer, dns KeySource, cfg Config) *OE {
	t.Helper()
	o, err := New(cfg, fake.New(time.Now), dns, ike.EngineConfig{Credentials: ike.Credentials{ID: id, Signer: key}, Sender: hubPort{h}, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	h.m[addr] = o
	return o
}

// bindings holds one binding: addr under name, with one key and gateway.
func bindings(t *testing.T, name string, addr netip.Addr, gw dnskey.Gateway, pub crypto.PublicKey) *dnskey.Bindings {
	t.Helper()
	b, err := dnskey.NewBindings(dnskey.BindingsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	k := dnskey.PeerKey{Name: name, Source: dnskey.SourceIPSECKEY, Precedence: 10, Gateway: gw,
		Algorithm: dnskey.AlgorithmEdDSA, PublicKey: pub}
	if err := b.Bind(name, []netip.Addr{addr}, dnskey.Result{Keys: []dnskey.PeerKey{k}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBoundTarget: B publishes its key only at its forward name (nothing
// at its reverse name, so without the binding A has no key for it). With
// the binding of a name look-up, A verifies B as @b.example with that key
// and makes no reverse look-up; a peer that proves another identity, or
// signs with another key, is refused.
func TestBoundTarget(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	for _, tc := range []struct {
		what   string
		bID    ike.Identity
		bound  crypto.PublicKey
		wantOK bool
	}{
		{"B proves @b.example", ike.FQDNIdentity("b.example"), keyB.Public(), true},
		{"B proves @b.example. (final dot)", ike.FQDNIdentity("b.example."), keyB.Public(), true},
		{"B proves another name", ike.FQDNIdentity("c.example"), keyB.Public(), false},
		{"B proves its address", ike.Identity{}, keyB.Public(), false},
		{"the binding holds another key", ike.FQDNIdentity("b.example"), oetest.NewKey(t).Public(), false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			dnsA, dnsB := oetest.NewDNS(), oetest.NewDNS()
			dnsB.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public()) // B verifies A as today
			h := &hub{m: map[netip.Addr]*OE{}}
			a := namedOE(t, h, addrA, ike.Identity{}, keyA, dnsA, Config{NullAuth: NullOff,
				Bindings: bindings(t, "b.example.", addrB, dnskey.Gateway{}, tc.bound)})
			b := namedOE(t, h, addrB, tc.bID, keyB, dnsB, Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, o := range []*OE{a, b} {
				o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
			}
			err := a.Up(ctx, addrA, addrB)
			if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 0 {
				t.Errorf("A looked B's reverse name up %d times; the binding has its key", n)
			}
			if !tc.wantOK {
				if !errors.Is(err, ike.ErrAuthentication) {
					t.Fatalf("Up = %v, want ike.ErrAuthentication", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Up: %v", err)
			}
			ts := a.Tunnels(ctx)
			if len(ts) == 0 || ts[0].PeerID.String() != tc.bID.String() || ts[0].Mode != ike.ModeTransport {
				t.Fatalf("A's tunnels %+v, want one in transport mode to %v", ts, tc.bID)
			}
		})
	}
}

// TestBoundTargetWithoutBinding: the same B, unbound, gets no tunnel: its
// reverse name has no key.
func TestBoundTargetWithoutBinding(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dnsA, dnsB := oetest.NewDNS(), oetest.NewDNS()
	dnsB.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	h := &hub{m: map[netip.Addr]*OE{}}
	empty, err := dnskey.NewBindings(dnskey.BindingsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := namedOE(t, h, addrA, ike.Identity{}, keyA, dnsA, Config{NullAuth: NullOff, Bindings: empty})
	b := namedOE(t, h, addrB, ike.FQDNIdentity("b.example"), keyB, dnsB, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range []*OE{a, b} {
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"}))
	}
	err = a.Up(ctx, addrA, addrB)
	if !errors.Is(err, dnskey.ErrNoKey) {
		t.Fatalf("Up without a binding = %v, want dnskey.ErrNoKey", err)
	}
	if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 1 {
		t.Errorf("A looked B's reverse name up %d times, want 1", n)
	}
	if s := empty.Stats(); s.Misses != 1 {
		t.Errorf("bindings %+v, want one miss", s)
	}
}

// TestBoundTargetGateway: a binding whose record names a gateway sends
// IKE to the gateway in tunnel mode, verified with the key the record
// carries, as a reverse record naming a gateway does.
func TestBoundTargetGateway(t *testing.T) {
	c1 := netip.MustParseAddr("198.18.0.21")
	keyA, keyD := oetest.NewKey(t), oetest.NewKey(t)
	dnsA, dnsD := oetest.NewDNS(), oetest.NewDNS()
	dnsD.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	h := &hub{m: map[netip.Addr]*OE{}}
	a := namedOE(t, h, addrA, ike.Identity{}, keyA, dnsA, Config{NullAuth: NullOff,
		Bindings: bindings(t, "c1.example.", c1, dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: addrD}, keyD.Public())})
	d := namedOE(t, h, addrD, ike.Identity{}, keyD, dnsD, Config{GatewayFor: []netip.Prefix{netip.PrefixFrom(c1, 32)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range []*OE{a, d} {
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
	}
	if err := a.Up(ctx, addrA, c1); err != nil {
		t.Fatalf("Up through the bound gateway: %v", err)
	}
	if n := dnsA.Lookups(); n != 0 {
		t.Errorf("A made %d DNS look-ups; the binding has the gateway's key", n)
	}
	ts := a.Tunnels(ctx)
	if len(ts) == 0 || ts[0].Peer != addrD || ts[0].Mode != ike.ModeTunnel || ts[0].PeerID.String() != ike.AddrIdentity(addrD).String() {
		t.Fatalf("A's tunnels %+v, want one in tunnel mode to gateway %s", ts, addrD)
	}
}
