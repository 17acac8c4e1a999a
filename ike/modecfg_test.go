package ike

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/ike/internal/wire"
)

// poolPair builds A (the client) and B (a responder leasing from ranges;
// none: no pool) that trust each other's keys.
func poolPair(t *testing.T, ranges ...string) (*memNet, *testPeer, *testPeer, *addrpool.Pool) {
	t.Helper()
	n := newMemNet(t)
	var pool *addrpool.Pool
	if len(ranges) > 0 {
		var err error
		if pool, err = addrpool.Parse(ranges, n.clock); err != nil {
			t.Fatal(err)
		}
	}
	a := n.addPeer(addrA, newEd25519(t), nil)
	b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.AddressPool = pool })
	a.trust(b)
	b.trust(a)
	return n, a, b, pool
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// bChild returns the CHILD SA B installed for A's SPI out.
func bChild(t *testing.T, b *testPeer, info ChildSAInfo) ChildSA {
	t.Helper()
	c, ok := b.inst.get(info.SPIOut)
	if !ok {
		t.Fatalf("B has no CHILD SA %08x", info.SPIOut)
	}
	return c
}

func TestModeCfgLeasesAndNarrows(t *testing.T) {
	for _, auth := range []AuthKind{AuthKindPubkey, AuthKindNull} {
		t.Run(auth.String(), func(t *testing.T) {
			n, a, b, pool := poolPair(t, "100.64.0.1-100.64.0.2")
			info, err := n.initiate(a, b, InitiateOptions{Auth: auth, RequestAddress: AddressRequest{IPv4: true}})
			if err != nil {
				t.Fatal(err)
			}
			want := addrs("100.64.0.1")
			if !slices.Equal(info.VirtualIPs, want) {
				t.Errorf("A's VirtualIPs %v, want %v", info.VirtualIPs, want)
			}
			host := HostSelector(want[0])
			if len(info.TSLocal) != 1 || !tsEqual(info.TSLocal[0], host) {
				t.Errorf("A's TSLocal %v, want %v", info.TSLocal, host)
			}
			n.drain()
			if c := bChild(t, b, info); len(c.TSRemote) != 1 || !tsEqual(c.TSRemote[0], host) {
				t.Errorf("B's TSRemote %v, want %v", c.TSRemote, host)
			}
			if sas := b.e.SAs(); len(sas) != 1 || !slices.Equal(sas[0].VirtualIPs, want) {
				t.Errorf("B's SAs %+v, want VirtualIPs %v", sas, want)
			}
			ls := pool.Leases()
			if len(ls) != 1 || ls[0].Addr != want[0] || ls[0].Owner != (addrpool.Owner{SPIi: info.IKE.SPIi, SPIr: info.IKE.SPIr}) {
				t.Fatalf("leases %+v", ls)
			}
			deleteAndCheck(t, n, a, b)
			if ls := pool.Leases(); len(ls) != 0 {
				t.Errorf("after delete, leases %+v", ls)
			}
			if s := pool.Stats(); s.Acquired != 1 || s.Released != 1 {
				t.Errorf("pool stats %+v", s)
			}
		})
	}
}

// A pubkey peer gets its address back after a delete; NULL peers, all
// ID_NULL, are not told apart and get the next never-used address.
func TestModeCfgSamePeerSameAddress(t *testing.T) {
	for _, tc := range []struct {
		auth AuthKind
		want string
	}{{AuthKindPubkey, "100.64.0.1"}, {AuthKindNull, "100.64.0.2"}} {
		t.Run(tc.auth.String(), func(t *testing.T) {
			n, a, b, _ := poolPair(t, "100.64.0.1-100.64.0.3")
			opts := InitiateOptions{Auth: tc.auth, RequestAddress: AddressRequest{IPv4: true}}
			if _, err := n.initiate(a, b, opts); err != nil {
				t.Fatal(err)
			}
			n.drain()
			deleteAndCheck(t, n, a, b)
			info, err := n.initiate(a, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.VirtualIPs, addrs(tc.want)) {
				t.Errorf("second lease %v, want %s", info.VirtualIPs, tc.want)
			}
		})
	}
}

func TestModeCfgExhausted(t *testing.T) {
	n, a, b, pool := poolPair(t, "100.64.0.1")
	opts := InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true}}
	if _, err := n.initiate(a, b, opts); err != nil {
		t.Fatal(err)
	}
	_, err := n.initiate(a, b, opts)
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyInternalAddressFailure {
		t.Fatalf("second initiation: %v, want INTERNAL_ADDRESS_FAILURE", err)
	}
	n.drain()
	// The IKE SA stands without a CHILD SA and without a lease.
	if sas := b.established(); len(sas) != 2 {
		t.Errorf("B has %d IKE SAs, want 2", len(sas))
	}
	if b.inst.count() != 1 {
		t.Errorf("B installed %d CHILD SAs, want 1", b.inst.count())
	}
	if s := pool.Stats(); s.Exhausted != 1 || s.Online != 1 {
		t.Errorf("pool stats %+v", s)
	}
}

// Without a pool the responder ignores CP, as before: no CFG_REPLY, and
// the client's wide TSi stands (the policy here accepts any).
func TestModeCfgNoPoolIgnoresCP(t *testing.T) {
	n, a, b, _ := poolPair(t)
	req := AddressRequest{IPv4: true}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: req})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.VirtualIPs) != 0 {
		t.Errorf("VirtualIPs %v without a pool", info.VirtualIPs)
	}
	if wide := req.wideSelectors(); !slices.EqualFunc(info.TSLocal, wide, tsEqual) {
		t.Errorf("TSLocal %v, want %v", info.TSLocal, wide)
	}
}

// With a pool, a client that asks for nothing is served as before.
func TestModeCfgPoolWithoutRequest(t *testing.T) {
	n, a, b, pool := poolPair(t, "100.64.0.0/24")
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.VirtualIPs) != 0 || len(pool.Leases()) != 0 {
		t.Errorf("VirtualIPs %v, leases %v for a client that asked for none", info.VirtualIPs, pool.Leases())
	}
	if len(info.TSLocal) != 1 || !tsEqual(info.TSLocal[0], HostSelector(addrA)) {
		t.Errorf("TSLocal %v", info.TSLocal)
	}
}

// A client asking for both families from an IPv4-only pool gets IPv4.
func TestModeCfgFamilies(t *testing.T) {
	n, a, b, _ := poolPair(t, "100.64.0.0/24")
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true, IPv6: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.VirtualIPs, addrs("100.64.0.1")) || len(info.TSLocal) != 1 {
		t.Errorf("VirtualIPs %v, TSLocal %v", info.VirtualIPs, info.TSLocal)
	}
	// Both families from a dual pool: two addresses, two selectors.
	n, a, b, _ = poolPair(t, "100.64.0.0/24", "fd00:64::/120")
	info, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true, IPv6: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.VirtualIPs, addrs("100.64.0.1", "fd00:64::1")) || len(info.TSLocal) != 2 {
		t.Errorf("VirtualIPs %v, TSLocal %v", info.VirtualIPs, info.TSLocal)
	}
}

// A client whose TSi leaves out its leased address is refused the CHILD
// SA, not given selectors it did not propose.
func TestModeCfgTSiWithoutLease(t *testing.T) {
	n, a, b, _ := poolPair(t, "100.64.0.0/24")
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true},
		TSi: []TrafficSelector{HostSelector(addrA)}})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyTSUnacceptable {
		t.Fatalf("got %v, want TS_UNACCEPTABLE", err)
	}
}

// The lease follows the IKE SA through a rekey, and goes back to the pool
// when the new SA is deleted; the CHILD SA rekey keeps the narrowed TSi.
func TestModeCfgRekey(t *testing.T) {
	for _, from := range []string{"A", "B"} {
		t.Run("from"+from, func(t *testing.T) {
			n, a, b, pool := poolPair(t, "100.64.0.1-100.64.0.9")
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true}})
			if err != nil {
				t.Fatal(err)
			}
			n.drain()
			p := a
			if from == "B" {
				p = b
			}
			done := startIKERekey(t, p)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			nb := b.liveSA(t)
			ls := pool.Leases()
			if len(ls) != 1 || ls[0].Addr != info.VirtualIPs[0] || ls[0].Owner != (addrpool.Owner{SPIi: nb.spii, SPIr: nb.spir}) {
				t.Fatalf("after rekey, leases %+v, new SA %v", ls, nb.id())
			}
			if sas := a.e.SAs(); len(sas) != 1 || !slices.Equal(sas[0].VirtualIPs, info.VirtualIPs) {
				t.Errorf("A's SAs after rekey %+v", sas)
			}
			d2 := startChildRekey(t, a, a.onlyChild(t), DHNone)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			c, _ := a.inst.get(a.onlyChild(t))
			if host := HostSelector(info.VirtualIPs[0]); len(c.TSLocal) != 1 || !tsEqual(c.TSLocal[0], host) {
				t.Errorf("rekeyed CHILD SA TSLocal %v, want %v", c.TSLocal, host)
			}
			deleteAndCheck(t, n, a, b)
			if ls := pool.Leases(); len(ls) != 0 {
				t.Errorf("after delete, leases %+v", ls)
			}
		})
	}
}

// The lease goes back to the pool when the responder's SA dies without a
// Delete: the client vanished and the liveness check gave up.
func TestModeCfgReleasedWhenPeerVanishes(t *testing.T) {
	n := newMemNet(t)
	pool, err := addrpool.Parse([]string{"100.64.0.1-100.64.0.9"}, n.clock)
	if err != nil {
		t.Fatal(err)
	}
	a := n.addPeer(addrA, newEd25519(t), nil)
	b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.AddressPool = pool; c.Liveness = 10 * time.Second })
	a.trust(b)
	b.trust(a)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true}}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if len(pool.Leases()) != 1 {
		t.Fatalf("leases %+v", pool.Leases())
	}
	n.filter = func(*memPacket) int { return 0 }
	n.advance(5 * time.Minute)
	if sas := b.e.SAs(); len(sas) != 0 {
		t.Fatalf("B still holds %v", sas)
	}
	if ls := pool.Leases(); len(ls) != 0 {
		t.Errorf("leases %+v after the SA died", ls)
	}
}

// The responder's own Delete releases the lease too.
func TestModeCfgReleasedOnResponderDelete(t *testing.T) {
	n, a, b, pool := poolPair(t, "100.64.0.1-100.64.0.9")
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, RequestAddress: AddressRequest{IPv4: true}}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	deleteAndCheck(t, n, b, a)
	if ls := pool.Leases(); len(ls) != 0 {
		t.Errorf("leases %+v after B's Delete", ls)
	}
}

// Behind a NAT, a TSi of the initiator's inside address (Libreswan's CAT
// client proposes its own address with its CFG_REQUEST) is replaced by
// the lease; without a NAT it is still refused (TestModeCfgTSiWithoutLease).
func TestModeCfgNATedTSiTakesLease(t *testing.T) {
	lease := netip.MustParseAddr("100.64.0.1")
	inside := HostSelector(netip.MustParseAddr("10.1.0.2"))
	sa := &ikeSA{vip: &virtualIPs{leased: true, addrs: []netip.Addr{lease}}, peerBehindNAT: true}
	got, err := sa.narrowToLease([]TrafficSelector{inside})
	if err != nil || len(got) != 1 || !tsEqual(got[0], HostSelector(lease)) {
		t.Fatalf("NATed initiator's TSi %v narrowed to %v, %v; want the lease %v", inside, got, err, lease)
	}
	sa.peerBehindNAT = false
	var ne *NotifyError
	if _, err := sa.narrowToLease([]TrafficSelector{inside}); !errors.As(err, &ne) || ne.Type != wire.NotifyTSUnacceptable {
		t.Fatalf("initiator not behind a NAT: %v, want TS_UNACCEPTABLE", err)
	}
}
