package dnskey

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

func edResult(t testing.TB, name string) Result {
	t.Helper()
	k, err := ParseIPSECKEYRdata(name, "10 0 4 . "+b64key(t, testKeys().ed.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return Result{ID: ID{FQDN: name}, Name: name, Keys: []PeerKey{k}}
}

func newTestBindings(t testing.TB, cfg BindingsConfig) (*Bindings, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.New()
	cfg.Clock = clk
	b, err := NewBindings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

func TestBindingsBindLookupExpire(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{MinTTL: 10 * time.Second, MaxTTL: time.Minute})
	a4, a6 := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8:1::2")
	if err := b.Bind("B.Example", []netip.Addr{a4, a6}, edResult(t, "b.example."), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{a4, a6, netip.MustParseAddr("::ffff:198.18.0.2")} {
		got, ok := b.Lookup(a)
		if !ok || got.Name != "b.example." || len(got.Keys) != 1 || got.Addr != a.Unmap() {
			t.Fatalf("Lookup(%s) = %+v, %v", a, got, ok)
		}
		if got.ID().String() != "@b.example." {
			t.Errorf("ID = %s", got.ID())
		}
	}
	if _, ok := b.Lookup(netip.MustParseAddr("198.18.0.3")); ok {
		t.Error("unbound address found")
	}
	clk.Advance(19 * time.Second)
	if _, ok := b.Lookup(a4); !ok {
		t.Error("binding gone before its TTL")
	}
	clk.Advance(time.Second)
	if _, ok := b.Lookup(a4); ok {
		t.Error("binding alive at its TTL")
	}
	if n := len(b.Bindings()); n != 0 {
		t.Errorf("Bindings() after expiry: %d", n)
	}
	want := BindingStats{Added: 2, Hits: 4, Misses: 2, Expired: 2}
	if s := b.Stats(); s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

func TestBindingsTTLClamped(t *testing.T) {
	b, clk := newTestBindings(t, BindingsConfig{MinTTL: 10 * time.Second, MaxTTL: time.Minute})
	lo, hi := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	if err := b.Bind("lo.example.", []netip.Addr{lo}, edResult(t, "lo.example."), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind("hi.example.", []netip.Addr{hi}, edResult(t, "hi.example."), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	for _, bd := range b.Bindings() {
		want := map[string]time.Duration{"lo.example.": 10 * time.Second, "hi.example.": time.Minute}[bd.Name]
		if got := bd.Expires.Sub(start); got != want {
			t.Errorf("%s expires after %v, want %v", bd.Name, got, want)
		}
	}
}

func TestBindingsLastWins(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{})
	a := netip.MustParseAddr("198.18.0.2")
	for _, name := range []string{"one.example.", "two.example."} {
		if err := b.Bind(name, []netip.Addr{a}, edResult(t, name), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := b.Lookup(a)
	if !ok || got.Name != "two.example." {
		t.Fatalf("Lookup = %q, %v; want the last name bound", got.Name, ok)
	}
	if s := b.Stats(); s.Added != 1 || s.Replaced != 1 || s.Entries != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestBindingsEvictsLeastRecentlyUsed(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{Max: 2})
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}) }
	for i := 1; i <= 2; i++ {
		if err := b.Bind(fmt.Sprintf("h%d.example.", i), []netip.Addr{addr(i)}, edResult(t, "h.example."), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	b.Lookup(addr(1)) // 2 is now the least recently used
	if err := b.Bind("h3.example.", []netip.Addr{addr(3)}, edResult(t, "h.example."), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Lookup(addr(2)); ok {
		t.Error("least recently used binding kept beyond Max")
	}
	if _, ok := b.Lookup(addr(1)); !ok {
		t.Error("recently used binding evicted")
	}
	if s := b.Stats(); s.Evicted != 1 || s.Entries != 2 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestBindingsBadInput(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{})
	a := []netip.Addr{netip.MustParseAddr("198.18.0.2")}
	gwOnly := Result{Keys: []PeerKey{{Source: SourceTXT, Gateway: Gateway{Kind: GatewayAddr, Addr: a[0]}}}}
	for _, tc := range []struct {
		what  string
		name  string
		addrs []netip.Addr
		keys  Result
		ttl   time.Duration
		want  string
	}{
		{"empty name", "", a, edResult(t, "b.example."), time.Minute, "empty domain name"},
		{"bad name", "b..example", a, edResult(t, "b.example."), time.Minute, "not a valid domain name"},
		{"no addrs", "b.example.", nil, edResult(t, "b.example."), time.Minute, "no addresses"},
		{"unspecified", "b.example.", []netip.Addr{netip.IPv4Unspecified()}, edResult(t, "b.example."), time.Minute, "unspecified"},
		{"invalid", "b.example.", []netip.Addr{{}}, edResult(t, "b.example."), time.Minute, "invalid"},
		{"no keys", "b.example.", a, Result{}, time.Minute, "no public key among 0 record(s)"},
		{"gateway only", "b.example.", a, gwOnly, time.Minute, "no public key among 1 record(s)"},
		{"negative TTL", "b.example.", a, edResult(t, "b.example."), -time.Second, "negative TTL"},
	} {
		err := b.Bind(tc.name, tc.addrs, tc.keys, tc.ttl)
		if !errors.Is(err, ErrBadBinding) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadBinding saying %q", tc.what, err, tc.want)
		}
	}
	if s := b.Stats(); s.Entries != 0 || s.Added != 0 {
		t.Errorf("refused bindings were stored: %+v", s)
	}
	if _, err := NewBindings(BindingsConfig{MinTTL: time.Hour, MaxTTL: time.Minute}); err == nil {
		t.Error("min TTL above max TTL accepted")
	}
}

// BenchmarkBindingsMemory binds 100,000 names of one address and one
// Ed25519 IPSECKEY each, and reports the heap each binding costs
// (bytes/binding), keys included.
func BenchmarkBindingsMemory(b *testing.B) {
	const names = 100000
	res := edResult(b, "host.example.")
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		bs, err := NewBindings(BindingsConfig{Max: names})
		if err != nil {
			b.Fatal(err)
		}
		for i := range names {
			name := fmt.Sprintf("host%d.example.", i)
			// Each name brings its own key records, as look-ups do.
			r := res
			r.Keys = []PeerKey{res.Keys[0]}
			r.Keys[0].Name, r.Keys[0].Record = name, strings.Replace(res.Keys[0].Record, "host.example.", name, 1)
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if err := bs.Bind(name, []netip.Addr{a}, r, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if bs.Stats().Entries != names {
			b.Fatalf("%d entries", bs.Stats().Entries)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/names, "bytes/binding")
		runtime.KeepAlive(bs)
	}
}

// BenchmarkBindingsLookup is what every OE negotiation pays first.
func BenchmarkBindingsLookup(b *testing.B) {
	bs, _ := newTestBindings(b, BindingsConfig{})
	a := netip.MustParseAddr("198.18.0.2")
	if err := bs.Bind("b.example.", []netip.Addr{a}, edResult(b, "b.example."), time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := bs.Lookup(a); !ok {
			b.Fatal("miss")
		}
	}
}

// Keys handed over in any order (unbound passes its answer's order) are
// held by precedence, as a look-up holds them: the first names the
// gateway.
func TestBindingsKeysInPrecedenceOrder(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{MinTTL: time.Second, MaxTTL: time.Minute})
	gw := "198.18.0.5"
	late, err := ParseIPSECKEYRdata("b.example.", "20 0 4 . "+b64key(t, testKeys().ed.Public()))
	if err != nil {
		t.Fatal(err)
	}
	early, err := ParseIPSECKEYRdata("b.example.", "10 1 4 "+gw+" "+b64key(t, testKeys().ed.Public()))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("198.18.1.10")
	if err := b.Bind("b.example.", []netip.Addr{a}, Result{Keys: []PeerKey{late, early}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok := b.Lookup(a)
	if !ok || len(got.Keys) != 2 || got.Keys[0].Precedence != 10 || got.Keys[0].Gateway.Addr.String() != gw || got.Keys[1].Precedence != 20 {
		t.Fatalf("Lookup = %+v, %v; want precedence 10 (gateway %s) first", got, ok, gw)
	}
}

// With NameOnly, a look-up that found no key binds the name alone, not
// secure (a name vouches for nothing); without it, such a Bind is
// refused (TestBindingsBadInput).
func TestBindingsNameOnly(t *testing.T) {
	b, _ := newTestBindings(t, BindingsConfig{NameOnly: true})
	a := netip.MustParseAddr("198.18.0.2")
	if err := b.Bind("www.example.", []netip.Addr{a}, Result{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok := b.Lookup(a)
	if !ok || got.Name != "www.example." || len(got.Keys) != 0 || got.Secure {
		t.Errorf("binding %+v %v, want www.example. alone, not secure", got, ok)
	}
}
