package ike

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// nullCapNet is a responder B with NULL caps and NULL initiators at
// 192.0.2.10 onwards.
type nullCapNet struct {
	t  *testing.T
	n  *memNet
	b  *testPeer
	xs map[int]*testPeer
}

func newNullCapNet(t *testing.T, l NullLimits) *nullCapNet {
	n := newMemNet(t)
	b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.NullLimits = l })
	return &nullCapNet{t: t, n: n, b: b, xs: map[int]*testPeer{}}
}

// x is the NULL initiator number i (its address 192.0.2.(10+i)).
func (c *nullCapNet) x(i int) *testPeer {
	if p := c.xs[i]; p != nil {
		return p
	}
	p := c.n.addPeer(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), newEd25519(c.t), nil)
	c.xs[i] = p
	return p
}

// null makes a NULL handshake from x(i) to B and returns the IKE SA, or
// the error.
func (c *nullCapNet) null(i int) (SAID, error) {
	c.t.Helper()
	info, err := c.n.initiate(c.x(i), c.b, InitiateOptions{Auth: AuthKindNull})
	c.n.drain()
	return info.IKE, err
}

// mustNull is null that must succeed; it then lets a second pass.
func (c *nullCapNet) mustNull(i int) SAID {
	c.t.Helper()
	id, err := c.null(i)
	if err != nil {
		c.t.Fatalf("NULL handshake from x%d: %v", i, err)
	}
	c.n.advance(time.Second)
	return id
}

// bHas reports whether B still holds the IKE SA id.
func (c *nullCapNet) bHas(id SAID) bool {
	return slices.ContainsFunc(c.b.e.SAs(), func(s SAInfo) bool { return s.ID == id && s.State == stEstablished.String() })
}

// xHas reports whether x(i) still holds the IKE SA id.
func (c *nullCapNet) xHas(i int, id SAID) bool {
	return slices.ContainsFunc(c.x(i).e.SAs(), func(s SAInfo) bool { return s.ID == id })
}

func (c *nullCapNet) stats(wantSAs int, wantEvicted, wantRefused uint64) {
	c.t.Helper()
	st := c.b.e.Stats()
	if st.NullSAs != wantSAs || st.NullEvictions != wantEvicted || st.NullRefusals != wantRefused {
		c.t.Fatalf("B: %d NULL SAs, %d evicted, %d refused; want %d, %d, %d",
			st.NullSAs, st.NullEvictions, st.NullRefusals, wantSAs, wantEvicted, wantRefused)
	}
}

// The per-source cap: a third NULL SA from one address is refused while
// the first two are in use, and evicts the oldest of them once it is idle:
// Delete sent, both sides without it, its CHILD SA gone from B's data
// plane. Other sources are untouched.
func TestNullCapPerSource(t *testing.T) {
	c := newNullCapNet(t, NullLimits{Total: 100, PerSource: 2, MinIdle: 10 * time.Second})
	first := c.mustNull(1)
	second := c.mustNull(1)
	other := c.mustNull(2)
	c.stats(3, 0, 0)

	if _, err := c.null(1); !refusedAuth(err) {
		t.Fatalf("third NULL SA from x1 within MinIdle: err %v, want ErrAuthentication (AUTHENTICATION_FAILED)", err)
	}
	c.stats(3, 0, 1)
	if n := len(c.x(1).established()); n != 2 {
		t.Errorf("x1 holds %d established SAs after the refusal, want 2 (no one-sided SA)", n)
	}

	c.n.advance(10 * time.Second)
	children := c.b.inst.count()
	third := c.mustNull(1)
	c.stats(3, 1, 1)
	if c.bHas(first) || c.xHas(1, first) {
		t.Errorf("the oldest idle SA of x1 is still there: B %v, x1 %v", c.bHas(first), c.xHas(1, first))
	}
	for _, id := range []SAID{second, third} {
		if !c.bHas(id) || !c.xHas(1, id) {
			t.Errorf("SA %v of x1 is gone: B %v, x1 %v", id, c.bHas(id), c.xHas(1, id))
		}
	}
	if !c.bHas(other) {
		t.Errorf("x2's SA was evicted for x1's")
	}
	// One CHILD SA came with the third, one went with the first.
	if got := c.b.inst.count(); got != children {
		t.Errorf("B's data plane holds %d CHILD SAs, want %d", got, children)
	}
}

// The total cap evicts the SA idle longest, from any source: activity
// (the peer's requests) makes an SA younger.
func TestNullCapTotalOldestIdleFirst(t *testing.T) {
	c := newNullCapNet(t, NullLimits{Total: 3, PerSource: 10, MinIdle: 10 * time.Second})
	ids := []SAID{c.mustNull(1), c.mustNull(2), c.mustNull(3)}
	if _, err := c.null(4); !refusedAuth(err) {
		t.Fatalf("a fourth NULL SA with none idle: err %v, want ErrAuthentication", err)
	}
	c.stats(3, 0, 1)

	c.n.advance(20 * time.Second)
	// x1, the oldest, speaks: x2 is now the one idle longest.
	if err := c.x(1).e.ProbeLiveness(ids[0], time.Minute, func(error) {}); err != nil {
		t.Fatal(err)
	}
	c.n.drain()
	c.mustNull(4)
	c.stats(3, 1, 1)
	if !c.bHas(ids[0]) || c.bHas(ids[1]) || !c.bHas(ids[2]) {
		t.Errorf("B holds x1 %v, x2 %v, x3 %v; want x2's evicted, as the one idle longest", c.bHas(ids[0]), c.bHas(ids[1]), c.bHas(ids[2]))
	}
	if c.xHas(2, ids[1]) {
		t.Errorf("x2 still holds the evicted SA: no Delete reached it")
	}
}

// LastTraffic: an SA quiet in IKE but carrying ESP is not idle.
func TestNullCapTrafficIsActivity(t *testing.T) {
	busy := map[SAID]bool{}
	var c *nullCapNet
	c = newNullCapNet(t, NullLimits{Total: 2, PerSource: 10, MinIdle: 10 * time.Second,
		LastTraffic: func(id SAID, _ netip.Addr) time.Time {
			if busy[id] {
				return c.n.clock.Now()
			}
			return time.Time{}
		}})
	a, b := c.mustNull(1), c.mustNull(2)
	busy[a] = true
	c.n.advance(20 * time.Second)
	c.mustNull(3)
	if !c.bHas(a) || c.bHas(b) {
		t.Errorf("B holds the busy SA %v, the quiet one %v; want the quiet one evicted", c.bHas(a), c.bHas(b))
	}
	// Every SA B holds now carries traffic (B's SAs come in map order:
	// marking the first two of them missed one in some runs).
	for _, s := range c.b.established() {
		busy[s.ID] = true
	}
	c.n.advance(20 * time.Second)
	if _, err := c.null(4); !refusedAuth(err) {
		t.Fatalf("all SAs carry traffic: err %v, want ErrAuthentication", err)
	}
	c.stats(2, 1, 1)
}

// SAs whose peer proved a key are neither counted nor evicted, and come
// up with the NULL caps full.
func TestNullCapSparesAuthenticatedPeers(t *testing.T) {
	c := newNullCapNet(t, NullLimits{Total: 1, PerSource: 1, MinIdle: time.Second})
	c.mustNull(1)
	a := c.x(2)
	c.b.trust(a)
	a.trust(c.b)
	info, err := c.n.initiate(a, c.b, InitiateOptions{Auth: AuthKindPubkey})
	if err != nil {
		t.Fatalf("a key-authenticated peer with the NULL caps full: %v", err)
	}
	c.n.advance(time.Minute)
	c.mustNull(3) // evicts x1's, never a's
	c.stats(1, 1, 0)
	if !c.bHas(info.IKE) {
		t.Errorf("the key-authenticated SA was evicted for a NULL one")
	}
}

// refusedAuth reports whether the responder answered IKE_AUTH with
// AUTHENTICATION_FAILED.
func refusedAuth(err error) bool {
	var ne *NotifyError
	return errors.As(err, &ne) && ne.Type == wire.NotifyAuthenticationFailed
}

// -1 lifts a cap.
func TestNullCapUnlimited(t *testing.T) {
	c := newNullCapNet(t, NullLimits{Total: -1, PerSource: -1, MinIdle: time.Hour})
	for range 5 {
		c.mustNull(1)
	}
	c.stats(5, 0, 0)
}

// An IKE rekey keeps the SA counted, and its death uncounts it.
func TestNullCapRekeyAndDelete(t *testing.T) {
	c := newNullCapNet(t, NullLimits{Total: 10, PerSource: 10, MinIdle: time.Second})
	id := c.mustNull(1)
	if err := c.n.async(t, func() error { return c.x(1).e.RekeyIKE(t.Context(), id) }); err != nil {
		t.Fatalf("IKE rekey: %v", err)
	}
	c.n.advance(time.Minute)
	c.stats(1, 0, 0)
	ss := c.x(1).established()
	if len(ss) != 1 || ss[0].ID == id {
		t.Fatalf("x1 after the rekey: %+v", ss)
	}
	if err := c.n.async(t, func() error { return c.x(1).e.DeleteIKE(t.Context(), ss[0].ID) }); err != nil {
		t.Fatalf("delete: %v", err)
	}
	c.stats(0, 0, 0)
}
