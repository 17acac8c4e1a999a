package oe

import (
	"context"
	"crypto"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// pendingPair is A, with the binding store store, and B proving bID;
// B publishes its key at its reverse name in A's DNS when atReverse, and
// nowhere otherwise. It returns A, A's data plane, A's DNS and B's key.
func pendingPair(t *testing.T, store *dnskey.Bindings, bID ike.Identity, atReverse bool) (*OE, *fake.Dataplane, *oetest.DNS, crypto.Signer) {
	t.Helper()
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dnsA, dnsB := oetest.NewDNS(), oetest.NewDNS()
	dnsB.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
	if atReverse {
		dnsA.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	}
	h := &hub{m: map[netip.Addr]*OE{}}
	dpA := fake.New(time.Now)
	a := hubOE(t, h, addrA, keyA, dnsA, dpA, Config{NullAuth: NullOff, Bindings: store})
	b := namedOE(t, h, addrB, bID, keyB, dnsB, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, o := range []*OE{a, b} {
		o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
		go o.Run(ctx)
	}
	return a, dpA, dnsA, keyB
}

// waitingFor waits until store has a negotiation waiting on it.
func waitingFor(t *testing.T, store *dnskey.Bindings) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for store.Stats().Waits == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no negotiation waited for the pending address")
		}
		time.Sleep(time.Millisecond)
	}
}

// tunnelTo waits for A's tunnel to B, failing on a shunt.
func tunnelTo(t *testing.T, a *OE, peerID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, tn := range a.Tunnels(t.Context()) {
			if tn.Peer == addrB {
				if tn.PeerID.String() != peerID {
					t.Fatalf("tunnel to B with peer %v, want %s", tn.PeerID, peerID)
				}
				return
			}
		}
		if sh := a.Shunts(); len(sh) > 0 {
			t.Fatalf("A set shunts %+v instead of the tunnel", sh)
		}
		if time.Now().After(deadline) {
			t.Fatal("no tunnel to B within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func acquireB(dp *fake.Dataplane) {
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrB}, Group: kernel.GroupPrivate, Time: time.Now()})
}

// TestAcquireWaitsForPendingBinding: the stub's race. The acquire for B
// comes while the look-up at B's name is still running (B is pending):
// the negotiation waits, then uses the binding that look-up makes —
// B's key at b.example and the identity @b.example — and never looks at
// B's reverse name, which has no key. Without the wait it would expect
// B's address as identity and fail.
func TestAcquireWaitsForPendingBinding(t *testing.T) {
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{PendingWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, dpA, dnsA, keyB := pendingPair(t, store, ike.FQDNIdentity("b.example"), false)
	hold := store.Pend([]netip.Addr{addrB})
	acquireB(dpA)
	waitingFor(t, store)
	k := dnskey.PeerKey{Name: "b.example.", Source: dnskey.SourceIPSECKEY, Precedence: 10,
		Algorithm: dnskey.AlgorithmEdDSA, PublicKey: keyB.Public()}
	if err := store.Bind("b.example.", []netip.Addr{addrB}, dnskey.Result{Keys: []dnskey.PeerKey{k}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	hold.Done()
	tunnelTo(t, a, ike.FQDNIdentity("b.example").String())
	if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 0 {
		t.Errorf("A looked B's reverse name up %d times; the binding has its key", n)
	}
	if s := store.Stats(); s.Waits != 1 || s.WaitsBound != 1 {
		t.Errorf("bindings %+v, want one wait that found the binding", s)
	}
}

// TestAcquirePendingWithoutBinding: the look-up at the name finds no key
// (the pending address settles as none): the waiting negotiation goes on
// as without a stub, with the key at B's reverse name.
func TestAcquirePendingWithoutBinding(t *testing.T) {
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{PendingWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, dpA, dnsA, _ := pendingPair(t, store, ike.Identity{}, true)
	hold := store.Pend([]netip.Addr{addrB})
	acquireB(dpA)
	waitingFor(t, store)
	if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 0 {
		t.Fatalf("A looked B's reverse name up %d times while B was pending", n)
	}
	hold.Done()
	tunnelTo(t, a, ike.AddrIdentity(addrB).String())
	if n := dnsA.LookupsOf(dnskey.AddrID(addrB)); n != 1 {
		t.Errorf("A looked B's reverse name up %d times, want 1", n)
	}
	if s := store.Stats(); s.Waits != 1 || s.WaitsNone != 1 {
		t.Errorf("bindings %+v, want one wait that found none", s)
	}
}

// TestAcquirePendingBounded: a pending address that never settles (a
// look-up that hangs) holds the negotiation PendingWait at most; it then
// goes on with the reverse name's key.
func TestAcquirePendingBounded(t *testing.T) {
	const wait = 300 * time.Millisecond
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{PendingWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	a, dpA, _, _ := pendingPair(t, store, ike.Identity{}, true)
	store.Pend([]netip.Addr{addrB}) // never Done
	start := time.Now()
	acquireB(dpA)
	tunnelTo(t, a, ike.AddrIdentity(addrB).String())
	if took := time.Since(start); took < wait {
		t.Errorf("tunnel up after %v, before the pending wait (%v) ended", took, wait)
	}
	if s := store.Stats(); s.Waits != 1 || s.WaitsTimedOut != 1 {
		t.Errorf("bindings %+v, want one wait that timed out", s)
	}
}

// TestPrestartWaitsForPendingBinding: a prestart (the stub's, when a
// second answer's prestart finds the first's look-up still running)
// waits as an acquire does.
func TestPrestartWaitsForPendingBinding(t *testing.T) {
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{PendingWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _, keyB := pendingPair(t, store, ike.FQDNIdentity("b.example"), false)
	hold := store.Pend([]netip.Addr{addrB})
	if !a.Prestart(context.Background(), addrA, addrB) {
		t.Fatal("Prestart started nothing")
	}
	waitingFor(t, store)
	k := dnskey.PeerKey{Name: "b.example.", Source: dnskey.SourceIPSECKEY, Precedence: 10,
		Algorithm: dnskey.AlgorithmEdDSA, PublicKey: keyB.Public()}
	if err := store.Bind("b.example.", []netip.Addr{addrB}, dnskey.Result{Keys: []dnskey.PeerKey{k}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	hold.Done()
	tunnelTo(t, a, ike.FQDNIdentity("b.example").String())
}
