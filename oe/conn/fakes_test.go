package conn_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/dispatch"
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
