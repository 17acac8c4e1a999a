// Package oetest holds the test helpers that oe, oe/conn and oe/dispatch
// share: a policy from files, a fresh key, a shunt lookup on the fake data
// plane, and waiting for a condition. Only their tests import it.
package oetest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/policygroups"
)

// MustPolicy loads a policy from group files (name → contents) written to
// a temporary directory.
func MustPolicy(t testing.TB, files map[string]string) *policygroups.Policy {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := policygroups.Load(context.Background(), dir, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NewKey is a fresh Ed25519 key.
func NewKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WaitFor polls cond until it holds, failing the test after 5 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ShuntFor is the shunt the fake data plane holds for destination dst.
func ShuntFor(dp *fake.Dataplane, dst string) (kernel.Shunt, bool) {
	ss, _ := dp.Shunts(context.Background())
	for _, s := range ss {
		if s.Flow.Dst.String() == dst {
			return s, true
		}
	}
	return kernel.Shunt{}, false
}

// DNS is a fake oe.KeySource: it answers key look-ups from what Publish
// put in, fails the IDs given to Fail, and counts look-ups. Unknown IDs
// have no key (dnskey.ErrNoKey). It is safe for concurrent use.
type DNS struct {
	mu      sync.Mutex
	keys    map[dnskey.ID][]dnskey.PeerKey
	fail    map[dnskey.ID]error
	delay   time.Duration
	lookups int
	byID    map[dnskey.ID]int
}

// NewDNS is an empty fake DNS.
func NewDNS() *DNS {
	return &DNS{keys: map[dnskey.ID][]dnskey.PeerKey{}, fail: map[dnskey.ID]error{}, byID: map[dnskey.ID]int{}}
}

// Publish adds a DNSSEC-signed IPSECKEY record of pub at id, naming gw.
func (f *DNS) Publish(id dnskey.ID, gw dnskey.Gateway, pub crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = append(f.keys[id], dnskey.PeerKey{Source: dnskey.SourceIPSECKEY, Precedence: 10, Gateway: gw,
		Algorithm: dnskey.AlgorithmEdDSA, PublicKey: pub, TTL: time.Hour, Secure: true})
}

// Fail makes look-ups of id fail with err.
func (f *DNS) Fail(id dnskey.ID, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[id] = err
}

// SetDelay makes every look-up take d (or until its context ends).
func (f *DNS) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Lookups is how many look-ups there were.
func (f *DNS) Lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// LookupsOf is how many times id was looked up.
func (f *DNS) LookupsOf(id dnskey.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

// Lookup implements oe.KeySource.
func (f *DNS) Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error) {
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

// Authorizes implements oe.KeySource: client's records name gateway.
func (f *DNS) Authorizes(ctx context.Context, client, gateway dnskey.ID) (bool, error) {
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

// Discard is an ike.Sender that loses every packet (no peer answers).
type Discard struct{}

// Send drops pkt.
func (Discard) Send([]byte, netip.AddrPort, netip.AddrPort) error { return nil }
