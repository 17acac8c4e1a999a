package ike

import (
	"sync"
	"testing"
	"time"
)

func TestKeyExchangesString(t *testing.T) {
	for _, tc := range []struct {
		kes  KeyExchanges
		want string
		pq   bool
	}{
		{nil, "", false},
		{KeyExchanges{DHCurve25519}, "x25519", false},
		{KeyExchanges{DHCurve25519, DHMLKEM768}, "x25519+mlkem768", true},
		{KeyExchanges{DHMLKEM768}, "mlkem768", true},
		{KeyExchanges{DHECP384, DHMLKEM1024}, "ecp384+mlkem1024", true},
		{KeyExchanges{DHCurve25519, DHMLKEM768, DHECP256}, "x25519+mlkem768+ecp256", true},
		{KeyExchanges{DHMODP2048, DHECP256}, "modp2048+ecp256", false},
		{KeyExchanges{DHGroup(1234)}, "ke1234", false},
	} {
		if got := tc.kes.String(); got != tc.want {
			t.Errorf("%v: String %q, want %q", []DHGroup(tc.kes), got, tc.want)
		}
		if got := tc.kes.QuantumResistant(); got != tc.pq {
			t.Errorf("%v: QuantumResistant %v, want %v", []DHGroup(tc.kes), got, tc.pq)
		}
	}
}

// TestKeyExchangeKeywordsParse: every name KeyExchanges writes is the
// proposal keyword of the same method, both as a KE keyword and in keN_.
func TestKeyExchangeKeywordsParse(t *testing.T) {
	for _, g := range []DHGroup{DHMODP2048, DHMODP3072, DHMODP4096, DHECP256, DHECP384, DHECP521, DHCurve25519, DHMLKEM512, DHMLKEM768, DHMLKEM1024} {
		kw := keyExchangeKeyword(g)
		if n, m, ok, err := parseAddKE("ke1_" + kw); !ok || err != nil || n != 1 || m != g {
			t.Errorf("%v: ke1_%s parses as ADDKE%d %v (%v, %v)", g, kw, n, m, ok, err)
		}
		if g.Supported() {
			if a, ok := algKeywords[kw]; !ok || a.dh != g {
				t.Errorf("%v: keyword %q is %+v", g, kw, a)
			}
		}
	}
}

// saKeyExchanges is the key exchanges of p's only established IKE SA, as
// SAs reports them.
func saKeyExchanges(t *testing.T, p *testPeer) string {
	t.Helper()
	id := p.liveSA(t).id()
	for _, in := range p.e.SAs() {
		if in.ID == id {
			return in.KeyExchanges.String()
		}
	}
	t.Fatalf("%v: SA %v not listed", p.addr, id)
	return ""
}

// TestSAKeyExchanges: both ends of an IKE SA report the key exchanges that
// ran, IKE_SA_INIT's then the additional ones, NONE left out, in SAs and
// in OnEstablished; an IKE SA rekey's new SA reports its own.
func TestSAKeyExchanges(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		mod        func(*EngineConfig)
		want       string
		pq         bool
		rekeyed    string // the new SA's after an IKE SA rekey; "" to skip
	}{
		{name: "classical", spec: "aes256gcm16-prfsha384-x25519", want: "x25519", rekeyed: "x25519"},
		{name: "hybrid", spec: "aes256gcm16-prfsha384-x25519-ke1_mlkem768", want: "x25519+mlkem768", pq: true},
		{name: "optional-chosen", spec: "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", want: "x25519+mlkem768", pq: true},
		{name: "none-chosen", spec: "aes256gcm16-prfsha384-x25519-ke1_none", want: "x25519"},
		{name: "two", spec: "aes256gcm16-prfsha384-ecp384-ke1_mlkem1024-ke3_ecp256", want: "ecp384+mlkem1024+ecp256", pq: true},
		{name: "mlkem-alone", mod: onlyKE(DHMLKEM768), want: "mlkem768", pq: true, rekeyed: "mlkem768"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod := tc.mod
			if mod == nil {
				pol, err := ParseProposals(ProtocolIKE, tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				mod = func(c *EngineConfig) { c.IKE = pol }
			}
			var (
				mu    sync.Mutex
				ups   [2][]SAInfo
				peers int
			)
			n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
				mod(c)
				i := peers // newPair makes A, then B
				peers++
				c.OnEstablished = func(in SAInfo) { mu.Lock(); ups[i] = append(ups[i], in); mu.Unlock() }
			})
			trace := &Trace{}
			if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: trace}); err != nil {
				t.Fatal(err)
			}
			n.drain()
			if got := trace.KeyExchanges().String(); got != tc.want {
				t.Errorf("trace: key exchanges %q, want %q", got, tc.want)
			}
			for _, p := range []*testPeer{a, b} {
				if got := saKeyExchanges(t, p); got != tc.want {
					t.Errorf("%v: key exchanges %q, want %q", p.addr, got, tc.want)
				}
				if got := p.liveSA(t).kes.list().QuantumResistant(); got != tc.pq {
					t.Errorf("%v: quantum-resistant %v, want %v", p.addr, got, tc.pq)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i, u := range ups {
				if len(u) != 1 || u[0].KeyExchanges.String() != tc.want {
					t.Errorf("side %d: OnEstablished %d times, key exchanges %v; want once, %q", i, len(u), u, tc.want)
				}
			}
			if tc.rekeyed == "" {
				return
			}
			old := a.liveSA(t).id()
			done := startIKERekey(t, b)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatalf("IKE rekey: %v", err)
			}
			n.advance(time.Second)
			if a.liveSA(t).id() == old {
				t.Fatal("the IKE SA was not replaced")
			}
			for _, p := range []*testPeer{a, b} {
				if got := saKeyExchanges(t, p); got != tc.rekeyed {
					t.Errorf("%v after the IKE SA rekey: key exchanges %q, want %q", p.addr, got, tc.rekeyed)
				}
			}
		})
	}
}
