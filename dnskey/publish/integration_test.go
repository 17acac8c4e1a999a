package publish

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// knotBed is a namespace with knot serving example. and a validating unbound.
type knotBed struct {
	ns   *netnstest.NS
	zone *peers.KnotZone
	key  TSIGKey
}

func newKnotBed(t *testing.T, prefix string) *knotBed {
	in := peers.Require(t)
	ns := netnstest.New(t, prefix)
	z := peers.ServeKnotZone(t, in, ns.Name, "example.", peers.KnotOptions{TTL: 2})
	k, err := LoadTSIGKey(z.KeyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return &knotBed{ns: ns, zone: z, key: k}
}

func newEd25519(t *testing.T) crypto.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// publisher finds the primary through the resolver (SOA MNAME ns.example. → 127.0.0.1).
func (b *knotBed) publisher(t *testing.T, key TSIGKey) *Publisher {
	t.Helper()
	p, err := New(Config{
		Spec: Spec{Forward: "b.example.", Addresses: []netip.Addr{netip.MustParseAddr("198.18.0.2")},
			AtForward: true, AddressRecords: true, TTL: 2, Precedence: 10},
		Key: key, Resolvers: []string{b.zone.Resolver}, Timeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *knotBed) do(t *testing.T, fn func() error) {
	t.Helper()
	if err := b.ns.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// lookup reads b.example.'s IPSECKEYs through the validating resolver and
// fails the test unless the answer carries AD. (dnskey.Resolver asks in
// goroutines of its own, which would leave the namespace: see netnstest.Do.)
func (b *knotBed) lookup(t *testing.T) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("b.example.", dns.TypeIPSECKEY)
	q.SetEdns0(1232, true)
	q.AuthenticatedData = true
	var r *dns.Msg
	b.do(t, func() error {
		var err error
		r, _, err = (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(q, b.zone.Resolver)
		return err
	})
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		t.Fatalf("b.example. IPSECKEY via %s: %s", b.zone.Resolver, dns.RcodeToString[r.Rcode])
	}
	if !r.AuthenticatedData {
		t.Fatalf("b.example. IPSECKEY via the validating resolver: no AD bit:\n%v", r)
	}
	var out []string
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.IPSECKEY); ok {
			pk, err := dnskey.ParseIPSECKEY(k)
			if err != nil {
				t.Fatalf("published %v: %v", k, err)
			}
			out = append(out, pk.Fingerprint())
		}
	}
	return out
}

// waitKeys polls the resolver until b.example. holds exactly want (in any
// order): the resolver may still hold an older answer for the zone's TTL
// (2s), as any peer's would.
func (b *knotBed) waitKeys(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := b.lookup(t)
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if slices.Equal(got, w) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPSECKEYs at b.example. = %v, want %v\nzone: %s", got, w, b.zone.Read(t, "b.example.", "IPSECKEY"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fp(t *testing.T, k crypto.PublicKey) string {
	t.Helper()
	return dnskey.PeerKey{PublicKey: k}.Fingerprint()
}

func TestKnotPublishForwardReadBack(t *testing.T) {
	b := newKnotBed(t, "kpub")
	key := newEd25519(t)
	p := b.publisher(t, b.key)
	ctx := context.Background()
	// Twice: the second UPDATE must change nothing.
	for range 2 {
		b.do(t, func() error { return p.Set(ctx, key) })
	}
	b.waitKeys(t, fp(t, key))
	if a := b.zone.Read(t, "b.example.", "A"); !strings.Contains(a, "198.18.0.2") {
		t.Fatalf("A at b.example.: %q", a)
	}
	b.do(t, func() error { return p.Withdraw(ctx, key) })
	if got := b.zone.Read(t, "b.example.", "IPSECKEY") + b.zone.Read(t, "b.example.", "A"); strings.Contains(got, "IPSECKEY") || strings.Contains(got, "198.18.0.2") {
		t.Fatalf("after Withdraw the zone still holds: %q", got)
	}
}

func TestKnotPublishRefusedKey(t *testing.T) {
	b := newKnotBed(t, "kref")
	ctx := context.Background()
	cases := []struct {
		name  string
		key   TSIGKey
		rcode int
		tsig  uint16
	}{
		{"unknown key", TSIGKey{Name: "stranger.", Algorithm: dns.HmacSHA256, Secret: b.key.Secret}, dns.RcodeNotAuth, dns.RcodeBadKey},
		{"wrong secret", TSIGKey{Name: b.key.Name, Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}, dns.RcodeNotAuth, dns.RcodeBadSig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.publisher(t, c.key)
			var err error
			b.ns.Do(func() error { err = p.Set(ctx, newEd25519(t)); return nil })
			var ue *UpdateError
			if !errors.As(err, &ue) {
				t.Fatalf("Set with a refused key: %v, want an *UpdateError", err)
			}
			t.Logf("error: %v", err)
			if ue.Rcode != c.rcode || ue.TSIGError != c.tsig || ue.Zone != "example." || ue.Server != "127.0.0.1:53" ||
				!strings.Contains(ue.Records, "IPSECKEY b.example.") {
				t.Fatalf("error %+v, want rcode %d TSIG error %d at 127.0.0.1:53 for zone example.", ue, c.rcode, c.tsig)
			}
		})
	}
}

func TestKnotRollover(t *testing.T) {
	b := newKnotBed(t, "kroll")
	ctx := context.Background()
	oldKey, newKey := newEd25519(t), newEd25519(t)
	p := b.publisher(t, b.key)
	b.do(t, func() error { return p.Set(ctx, oldKey) })

	b.waitKeys(t, fp(t, oldKey))

	// Wait is a fake: the overlap is observed while Rollover waits.
	switched := false
	r := Rollover{Set: p.Set, Old: oldKey, New: newKey, TTL: 2 * time.Second,
		Wait: func(ctx context.Context, d time.Duration) error {
			if d != 2*time.Second {
				t.Errorf("Rollover waits %v, want the TTL 2s", d)
			}
			if switched {
				t.Error("Rollover switched keys before the overlap")
			}
			b.waitKeys(t, fp(t, oldKey), fp(t, newKey))
			return nil
		},
		Switch: func(ctx context.Context) error { switched = true; return nil },
	}
	b.do(t, func() error { return r.Run(ctx) })
	if !switched {
		t.Fatal("Rollover did not switch the signing key")
	}
	b.waitKeys(t, fp(t, newKey))
}
