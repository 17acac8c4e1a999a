package ike

import (
	"context"
	"crypto"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// countingKeys is a KeyResolver that counts the calls it gets.
type countingKeys struct {
	KeyResolver
	mu    sync.Mutex
	calls int
}

func (c *countingKeys) PeerKeys(ctx context.Context, peer Identity, remote netip.Addr) ([]crypto.PublicKey, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.KeyResolver.PeerKeys(ctx, peer, remote)
}

// ctxKey marks the contexts a test hands to Initiate.
type ctxKey struct{}

// peerKeysPair is A and B where A's KeyResolver counts its calls and
// would vouch for B's key: an initiation with PeerKeys must not ask it.
func peerKeysPair(t *testing.T) (n *memNet, a, b *testPeer, resolver *countingKeys) {
	n = newMemNet(t)
	var r *countingKeys
	a = n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) {
		r = &countingKeys{KeyResolver: c.Keys}
		c.Keys = r
	})
	b = n.addPeer(addrB, newEd25519(t), nil)
	a.trust(b)
	b.trust(a)
	return n, a, b, r
}

// TestInitiatePeerKeys: an initiation that brings the peer's keys is
// verified with exactly those keys, asks them with Initiate's context,
// and never calls the KeyResolver; the wrong key, or none, fails it as
// an authentication failure.
func TestInitiatePeerKeys(t *testing.T) {
	opts := func(keys PeerKeysFunc) InitiateOptions {
		return InitiateOptions{Auth: AuthKindPubkey, PeerID: AddrIdentity(addrB), PeerKeys: keys}
	}
	t.Run("right key", func(t *testing.T) {
		n, a, b, resolver := peerKeysPair(t)
		ctx := context.WithValue(context.Background(), ctxKey{}, "negotiation")
		var asked []any
		keys := func(ctx context.Context) ([]crypto.PublicKey, error) {
			asked = append(asked, ctx.Value(ctxKey{}))
			return []crypto.PublicKey{b.signer.Public()}, nil
		}
		in, sa, err := a.e.startInitiate(ctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA,
			Auth: AuthKindPubkey, PeerID: AddrIdentity(addrB), PeerKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		n.run(func() bool { return len(in.done) > 0 }, time.Minute)
		info, err := sa.awaitInitiate(ctx, in)
		if err != nil {
			t.Fatalf("initiate with the peer's key: %v", err)
		}
		if !info.Trace.PeerAuthVerified {
			t.Error("trace: peer AUTH not verified")
		}
		if len(asked) != 1 || asked[0] != "negotiation" {
			t.Errorf("PeerKeys asked %d times with context values %v; want once, with Initiate's context", len(asked), asked)
		}
		if resolver.calls != 0 {
			t.Errorf("KeyResolver asked %d times for an initiation that brought its keys", resolver.calls)
		}
		if a.inst.count() != 1 || b.inst.count() != 1 {
			t.Errorf("CHILD SAs installed: A %d, B %d; want 1 each", a.inst.count(), b.inst.count())
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		n, a, b, resolver := peerKeysPair(t)
		_, err := n.initiate(a, b, opts(StaticKeys(newEd25519(t).Public())))
		if !errors.Is(err, ErrAuthentication) {
			t.Fatalf("initiate with another key than the peer's: %v, want ErrAuthentication", err)
		}
		if resolver.calls != 0 {
			t.Errorf("KeyResolver asked %d times after the given key failed", resolver.calls)
		}
		if a.inst.count() != 0 || len(a.established()) != 0 {
			t.Errorf("after the failure A holds %d CHILD SAs, %d IKE SAs", a.inst.count(), len(a.established()))
		}
		n.advance(time.Minute)
		if b.inst.count() != 0 {
			t.Errorf("B kept %d CHILD SAs after A failed to verify it (no Delete?)", b.inst.count())
		}
	})
	t.Run("no key", func(t *testing.T) {
		n, a, b, resolver := peerKeysPair(t)
		none := func(context.Context) ([]crypto.PublicKey, error) { return nil, ErrNoKey }
		_, err := n.initiate(a, b, opts(none))
		if !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrAuthentication) {
			t.Fatalf("initiate with no key for the peer: %v, want ErrNoKey and ErrAuthentication", err)
		}
		if resolver.calls != 0 {
			t.Errorf("KeyResolver asked %d times", resolver.calls)
		}
	})
	t.Run("keys known after IKE_SA_INIT", func(t *testing.T) {
		// OE starts IKE_SA_INIT while DNS looks the key up: the keys are
		// asked for only once IKE_AUTH is answered.
		n, a, b, _ := peerKeysPair(t)
		var known []crypto.PublicKey
		calls := 0
		keys := func(context.Context) ([]crypto.PublicKey, error) {
			calls++
			if known == nil {
				return nil, errors.New("keys asked for before IKE_AUTH was answered")
			}
			return known, nil
		}
		in, sa, err := a.e.startInitiate(context.Background(), InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA,
			Auth: AuthKindPubkey, PeerID: AddrIdentity(addrB), PeerKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		n.deliverOne() // IKE_SA_INIT to B
		n.deliverOne() // its answer to A, which sends IKE_AUTH
		if calls != 0 {
			t.Fatalf("PeerKeys called %d times before IKE_AUTH was answered", calls)
		}
		known = []crypto.PublicKey{b.signer.Public()}
		n.run(func() bool { return len(in.done) > 0 }, time.Minute)
		if _, err := sa.awaitInitiate(context.Background(), in); err != nil || calls != 1 {
			t.Fatalf("initiate: %v after %d PeerKeys calls; want success after 1", err, calls)
		}
	})
	t.Run("without PeerKeys the resolver is asked", func(t *testing.T) {
		n, a, b, resolver := peerKeysPair(t)
		if _, err := n.initiate(a, b, opts(nil)); err != nil {
			t.Fatal(err)
		}
		if resolver.calls != 1 {
			t.Errorf("KeyResolver asked %d times, want 1", resolver.calls)
		}
	})
}

// ctxInstaller is a fakeInstaller that records the context values its
// AllocSPI and Install see, and fails them with the context's cause once
// it has ended.
type ctxInstaller struct {
	*fakeInstaller
	mu   sync.Mutex
	seen map[string]any
}

func (c *ctxInstaller) note(call string, ctx context.Context) error {
	c.mu.Lock()
	c.seen[call] = ctx.Value(ctxKey{})
	c.mu.Unlock()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

func (c *ctxInstaller) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	if err := c.note("AllocSPI", ctx); err != nil {
		return 0, err
	}
	return c.fakeInstaller.AllocSPI(ctx, src, dst)
}

func (c *ctxInstaller) Install(ctx context.Context, sa ChildSA) error {
	if err := c.note("Install", ctx); err != nil {
		return err
	}
	return c.fakeInstaller.Install(ctx, sa)
}

// TestInitiateContextReachesInstaller: the data plane calls an initiation
// makes get Initiate's context, with its values and cancel cause.
func TestInitiateContextReachesInstaller(t *testing.T) {
	setup := func(t *testing.T) (*memNet, *testPeer, *testPeer, *ctxInstaller) {
		n := newMemNet(t)
		ci := &ctxInstaller{seen: map[string]any{}}
		a := n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) {
			ci.fakeInstaller = c.Installer.(*fakeInstaller)
			c.Installer = ci
		})
		b := n.addPeer(addrB, newEd25519(t), nil)
		a.trust(b)
		b.trust(a)
		return n, a, b, ci
	}
	t.Run("values", func(t *testing.T) {
		n, a, _, ci := setup(t)
		ctx := context.WithValue(context.Background(), ctxKey{}, "negotiation")
		in, sa, err := a.e.startInitiate(ctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
		if err != nil {
			t.Fatal(err)
		}
		n.run(func() bool { return len(in.done) > 0 }, time.Minute)
		if _, err := sa.awaitInitiate(ctx, in); err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"AllocSPI", "Install"} {
			if v := ci.seen[call]; v != "negotiation" {
				t.Errorf("%s saw context value %v, want Initiate's (negotiation)", call, v)
			}
		}
	})
	t.Run("cause", func(t *testing.T) {
		n, a, _, ci := setup(t)
		cause := errors.New("the policy changed")
		ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "negotiation"))
		in, sa, err := a.e.startInitiate(ctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
		if err != nil {
			t.Fatal(err)
		}
		cancel(cause) // while IKE_SA_INIT is in flight
		n.run(func() bool { return len(in.done) > 0 }, time.Minute)
		_, err = sa.awaitInitiate(context.Background(), in)
		if !errors.Is(err, cause) {
			t.Fatalf("initiate after its context was cancelled: %v, want the cause", err)
		}
		if v, ok := ci.seen["AllocSPI"]; !ok || v != "negotiation" {
			t.Errorf("AllocSPI saw %v (called: %v), want Initiate's context", v, ok)
		}
		if _, ok := ci.seen["Install"]; ok {
			t.Error("Install called although AllocSPI failed")
		}
	})
	t.Run("Initiate returns the cause", func(t *testing.T) {
		_, a, _, _ := setup(t)
		cause := errors.New("stopping")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		_, err := a.e.Initiate(ctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
		if !errors.Is(err, cause) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Initiate with a cancelled context: %v, want context.Canceled and the cause", err)
		}
	})
}
