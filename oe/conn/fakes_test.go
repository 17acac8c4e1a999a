package conn_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/policygroups"
)

// fakeDNS answers key look-ups from a map; unknown IDs have no key.
type fakeDNS struct {
	mu   sync.Mutex
	keys map[dnskey.ID][]dnskey.PeerKey
}

func newFakeDNS() *fakeDNS { return &fakeDNS{keys: map[dnskey.ID][]dnskey.PeerKey{}} }

func (f *fakeDNS) Lookup(_ context.Context, id dnskey.ID) (dnskey.Result, error) {
	f.mu.Lock()
	keys := f.keys[id]
	f.mu.Unlock()
	if len(keys) == 0 {
		return dnskey.Result{ID: id}, fmt.Errorf("%s: NXDOMAIN: %w", id, dnskey.ErrNoKey)
	}
	return dnskey.Result{ID: id, Keys: keys}, nil
}

func (f *fakeDNS) Authorizes(ctx context.Context, client, gateway dnskey.ID) (bool, error) {
	res, err := f.Lookup(ctx, client)
	if err != nil {
		return false, err
	}
	for _, k := range res.Keys {
		if k.Gateway.Kind == dnskey.GatewayAddr && gateway.Addr == k.Gateway.Addr {
			return true, nil
		}
	}
	return false, nil
}

// discard is a Sender that loses every packet (no peer answers).
type discard struct{}

func (discard) Send([]byte, netip.AddrPort, netip.AddrPort) error { return nil }

func mustPolicy(t testing.TB, files map[string]string) *policygroups.Policy {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(dir+"/"+name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := policygroups.Load(context.Background(), dir, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestStack is OE and conns behind a dispatcher, over a fake data plane
// and fake DNS, with an engine whose packets go to sender.
func newTestStack(t testing.TB, cfg oe.Config, dns oe.KeySource, sender ike.Sender, key crypto.Signer) (*dispatch.Dispatcher, *fake.Dataplane) {
	t.Helper()
	dp := fake.New(time.Now)
	if sender == nil {
		sender = discard{}
	}
	d, err := dispatch.New(dispatch.Config{OE: cfg}, dp, dns, ike.EngineConfig{
		Credentials: ike.Credentials{Signer: key},
		Sender:      sender,
		GiveUp:      2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dp
}

// newPSKStack is a stack whose engine authenticates with pskKey.
func newPSKStack(t testing.TB, id ike.Identity, sender ike.Sender) (*dispatch.Dispatcher, *fake.Dataplane) {
	t.Helper()
	psk := func(ike.Identity) []byte { return pskKey }
	dp := fake.New(time.Now)
	d, err := dispatch.New(dispatch.Config{}, dp, newFakeDNS(), ike.EngineConfig{
		Credentials: ike.Credentials{ID: id, PSK: psk}, Sender: sender, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dp
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func shuntFor(dp *fake.Dataplane, dst string) (kernel.Shunt, bool) {
	ss, _ := dp.Shunts(context.Background())
	for _, s := range ss {
		if s.Flow.Dst.String() == dst {
			return s, true
		}
	}
	return kernel.Shunt{}, false
}

// pipe delivers one engine's packets to another's, as UDP would.
type pipe struct {
	to atomic.Pointer[dispatch.Dispatcher]
}

func (p *pipe) Send(pkt []byte, local, remote netip.AddrPort) error {
	d := p.to.Load()
	if d == nil {
		return errors.New("no peer")
	}
	b := append([]byte(nil), pkt...)
	go d.Engine().HandlePacket(b, remote, local)
	return nil
}

// hub delivers datagrams between several stacks by address.
type hub struct {
	m map[netip.Addr]node
}

// node is a host on a hub: a stack (*dispatch.Dispatcher) or an engine
// wired by hand.
type node interface{ Engine() *ike.Engine }

type hubPort struct{ h *hub }

func (p hubPort) Send(pkt []byte, local, remote netip.AddrPort) error {
	d := p.h.m[remote.Addr()]
	if d == nil {
		return errors.New("no host at " + remote.Addr().String())
	}
	b := append([]byte(nil), pkt...)
	go d.Engine().HandlePacket(b, remote, local)
	return nil
}
