package oe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestPrefetchAtSAInit: B, the responder, starts looking up A's key when
// it answers A's IKE_SA_INIT, before A's IKE_AUTH asks for it: the
// look-up is made twice on B's cache-less DNS (the prefetch, then
// PeerKeys; a caching resolver answers the second from the first), and
// the prefetch is counted.
func TestPrefetchAtSAInit(t *testing.T) {
	keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
	dnsA, dnsB := oetest.NewDNS(), oetest.NewDNS()
	for _, d := range []*oetest.DNS{dnsA, dnsB} {
		d.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
		d.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
	}
	h := &hub{m: map[netip.Addr]*OE{}}
	a := hubOE(t, h, addrA, keyA, dnsA, fake.New(time.Now), Config{NullAuth: NullOff})
	b := hubOE(t, h, addrB, keyB, dnsB, fake.New(time.Now), Config{NullAuth: NullOff})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pol := oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"})
	for _, o := range h.m {
		o.SetPolicy(ctx, pol)
	}
	if !a.Prestart(ctx, addrA, addrB) {
		t.Fatal("no prestart toward B")
	}
	if err := a.AwaitNegotiation(ctx, addrB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return dnsB.LookupsOf(dnskey.AddrID(addrA)) == 2 }, "two look-ups of A's key on B (prefetch and IKE_AUTH)")
	if s := b.Stats(); s.Prefetches != 1 || s.PrefetchesSkipped != 0 {
		t.Errorf("B's stats %+v, want 1 prefetch", s)
	}
	if s := a.Stats(); s.Prefetches != 0 {
		t.Errorf("A, the initiator, prefetched %d times", s.Prefetches)
	}
}

// TestPrefetchWhich: the prefetch looks up a bound address's forward
// name, any other address's reverse name, and nothing for a peer OE does
// not answer, under null_auth=only, or beyond maxPrefetches at once.
func TestPrefetchWhich(t *testing.T) {
	key := oetest.NewKey(t)
	bound, plain, clear := netip.MustParseAddr("198.18.0.31"), netip.MustParseAddr("198.18.0.32"), netip.MustParseAddr("198.18.9.1")
	store := bindings(t, "host.example.", bound, dnskey.Gateway{}, oetest.NewKey(t).Public())
	pol := oetest.MustPolicy(t, map[string]string{"clear-or-private": "198.18.0.0/24\n", "clear": "198.18.9.0/24\n"})
	newOE := func(cfg Config, dns *oetest.DNS) *OE {
		cfg.Bindings = store
		o := hubOE(t, &hub{m: map[netip.Addr]*OE{}}, addrB, key, dns, fake.New(time.Now), cfg)
		o.SetPolicy(t.Context(), pol)
		return o
	}
	dns := oetest.NewDNS()
	o := newOE(Config{}, dns)
	for _, a := range []netip.Addr{bound, plain, clear} {
		o.PrefetchPeerKeys(a)
	}
	waitFor(t, func() bool { return dns.Lookups() == 2 }, "two prefetches")
	time.Sleep(20 * time.Millisecond)
	if dns.LookupsOf(dnskey.ID{FQDN: "host.example."}) != 1 || dns.LookupsOf(dnskey.AddrID(plain)) != 1 || dns.Lookups() != 2 {
		t.Errorf("looked up host.example. %d, %v %d times, %d in all; want 1, 1, 2 (nothing for the clear peer)",
			dns.LookupsOf(dnskey.ID{FQDN: "host.example."}), plain, dns.LookupsOf(dnskey.AddrID(plain)), dns.Lookups())
	}

	nullOnly := oetest.NewDNS()
	newOE(Config{NullAuth: NullOnly}, nullOnly).PrefetchPeerKeys(plain)
	time.Sleep(20 * time.Millisecond)
	if nullOnly.Lookups() != 0 {
		t.Errorf("%d look-ups under null_auth=only, want 0", nullOnly.Lookups())
	}

	slow := oetest.NewDNS()
	slow.SetDelay(time.Second)
	o = newOE(Config{}, slow)
	for i := range maxPrefetches + 3 {
		o.PrefetchPeerKeys(netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)}))
	}
	if s := o.Stats(); s.Prefetches != maxPrefetches || s.PrefetchesSkipped != 3 {
		t.Errorf("stats %+v, want %d prefetches and 3 skipped", s, maxPrefetches)
	}
}
