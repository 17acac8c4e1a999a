package oe

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
)

// fakeDNS answers key look-ups from a map; unknown IDs have no key.
type fakeDNS struct {
	mu      sync.Mutex
	keys    map[dnskey.ID][]dnskey.PeerKey
	fail    map[dnskey.ID]error
	delay   time.Duration
	lookups int
	byID    map[dnskey.ID]int // lookups per ID
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{keys: map[dnskey.ID][]dnskey.PeerKey{}, fail: map[dnskey.ID]error{}, byID: map[dnskey.ID]int{}}
}

func (f *fakeDNS) publish(id dnskey.ID, gw dnskey.Gateway, pub crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = append(f.keys[id], dnskey.PeerKey{Source: dnskey.SourceIPSECKEY, Precedence: 10, Gateway: gw,
		Algorithm: dnskey.AlgorithmEdDSA, PublicKey: pub, TTL: time.Hour, Secure: true})
}

// lookupsOf is how many times id was looked up.
func (f *fakeDNS) lookupsOf(id dnskey.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

func (f *fakeDNS) Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error) {
	f.mu.Lock()
	f.lookups++
	f.byID[id]++
	keys, err, d := f.keys[id], f.fail[id], f.delay
	f.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return dnskey.Result{ID: id}, ctx.Err()
		}
	}
	if err != nil {
		return dnskey.Result{ID: id}, err
	}
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

// newTestOE is an orchestrator over a fake data plane and fake DNS, with an
// engine whose packets go to sender.
func newTestOE(t *testing.T, cfg Config, dns KeySource, sender ike.Sender, key crypto.Signer) (*OE, *fake.Dataplane) {
	t.Helper()
	dp := fake.New(time.Now)
	if sender == nil {
		sender = discard{}
	}
	o, err := New(cfg, dp, dns, ike.EngineConfig{
		Credentials: ike.Credentials{Signer: key},
		Sender:      sender,
		GiveUp:      2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, dp
}

func hasString(l []string, sub string) bool {
	for _, s := range l {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// pipe delivers one engine's packets to another's, as UDP would.
type pipe struct{ to atomic.Pointer[OE] }

func (p *pipe) Send(pkt []byte, local, remote netip.AddrPort) error {
	o := p.to.Load()
	if o == nil {
		return errors.New("no peer")
	}
	b := append([]byte(nil), pkt...)
	go o.Engine().HandlePacket(b, remote, local)
	return nil
}

// hub delivers datagrams between several orchestrators by address.
type hub struct{ m map[netip.Addr]*OE }

type hubPort struct{ h *hub }

func (p hubPort) Send(pkt []byte, local, remote netip.AddrPort) error {
	o := p.h.m[remote.Addr()]
	if o == nil {
		return errors.New("no host at " + remote.Addr().String())
	}
	b := append([]byte(nil), pkt...)
	go o.Engine().HandlePacket(b, remote, local)
	return nil
}
