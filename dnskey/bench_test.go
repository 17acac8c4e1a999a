package dnskey

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkLookupCached is the hot path: every trapped packet's flow asks
// for its peer's key; after the first, the answer comes from the cache.
func BenchmarkLookupCached(b *testing.B) {
	s := newTestServer(b)
	s.set(func() { s.ad = true })
	k := testKeys()
	s.add(b,
		target+" 300 IN IPSECKEY 10 0 2 . "+b64key(b, &k.rsa.PublicKey),
		target+" 300 IN IPSECKEY 20 0 4 . "+b64key(b, k.ed.Public()),
	)
	r, _ := newTestResolver(b, s, nil)
	id := mustID(b, "198.18.0.2")
	ctx := context.Background()
	if _, err := r.Lookup(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Lookup(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	if st := r.Stats(); st.Queries != 3 {
		b.Fatalf("%d queries, want 3 (all cached)", st.Queries)
	}
}

func BenchmarkParseTXT(b *testing.B) {
	key := b64key(b, &testKeys().rsa.PublicKey)
	strs := append([]string{"X-IPsec-Server(10)=198.18.0.1 "}, chunks(key, 240)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTXT(strs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseIPSECKEY(b *testing.B) {
	k := testKeys()
	for _, tc := range []struct {
		name string
		pub  any
	}{{"RSA2048", &k.rsa.PublicKey}, {"Ed25519", k.ed.Public()}, {"P256", &k.p256.PublicKey}} {
		rr := mustRR(b, target+" 300 IN IPSECKEY 10 0 "+map[string]string{"RSA2048": "2", "Ed25519": "4", "P256": "3"}[tc.name]+" . "+b64key(b, tc.pub)).(*dns.IPSECKEY)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseIPSECKEY(rr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRSAKey(b *testing.B) {
	raw := mustMarshal(b, &testKeys().rsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRSAKey(raw); err != nil {
			b.Fatal(err)
		}
	}
}
