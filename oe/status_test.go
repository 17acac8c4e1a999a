package oe

import (
	"context"
	"crypto"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestTunnelsKeyExchanges: both ends' Tunnels show the key exchanges of
// the tunnel's IKE SA, and after an IKE SA rekey, which moves the CHILD
// SA to a new IKE SA, the new one's.
func TestTunnelsKeyExchanges(t *testing.T) {
	for _, tc := range []struct {
		ike, want string
		pq        bool
	}{
		{"aes256gcm16-prfsha384-x25519", "x25519", false},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", "x25519+mlkem768", true},
		{"aes256gcm16-prfsha384-mlkem768", "mlkem768", true},
	} {
		t.Run(tc.want, func(t *testing.T) {
			pol, err := ike.ParseProposals(ike.ProtocolIKE, tc.ike)
			if err != nil {
				t.Fatal(err)
			}
			net := &cuttable{m: map[netip.Addr]*OE{}, cut: map[netip.Addr]bool{}}
			dns := oetest.NewDNS()
			keyA, keyB := oetest.NewKey(t), oetest.NewKey(t)
			dns.Publish(dnskey.AddrID(addrA), dnskey.Gateway{}, keyA.Public())
			dns.Publish(dnskey.AddrID(addrB), dnskey.Gateway{}, keyB.Public())
			mk := func(key crypto.Signer) *OE {
				o, err := New(Config{ShutdownTimeout: 10 * time.Millisecond}, fake.New(time.Now), dns,
					ike.EngineConfig{Credentials: ike.Credentials{Signer: key}, Sender: cuttablePort{net}, IKE: pol})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { o.Close() })
				return o
			}
			a, b := mk(keyA), mk(keyB)
			net.m[addrA], net.m[addrB] = a, b
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, o := range []*OE{a, b} {
				o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"}))
			}
			if err := a.Up(ctx, addrA, addrB); err != nil {
				t.Fatal(err)
			}
			oetest.WaitFor(t, "B's tunnel", func() bool { return len(b.Tunnels(ctx)) == 1 })
			check := func(when string) {
				t.Helper()
				for name, o := range map[string]*OE{"A": a, "B": b} {
					ts := o.Tunnels(ctx)
					if len(ts) != 1 || ts[0].KeyExchanges.String() != tc.want || ts[0].KeyExchanges.QuantumResistant() != tc.pq {
						t.Errorf("%s: %s's tunnels %+v; want one with key exchanges %q", when, name, ts, tc.want)
					}
				}
			}
			check("up")

			sas := a.Engine().SAs()
			if len(sas) != 1 {
				t.Fatalf("A has %d IKE SAs", len(sas))
			}
			if err := a.Engine().RekeyIKE(ctx, sas[0].ID); err != nil {
				t.Fatalf("IKE SA rekey: %v", err)
			}
			oetest.WaitFor(t, "the old IKE SA gone", func() bool {
				for _, o := range []*OE{a, b} {
					if s := o.Engine().SAs(); len(s) != 1 || s[0].ID == sas[0].ID {
						return false
					}
				}
				return true
			})
			// The table still names the old IKE SA: the tunnel must show
			// the new one's key exchanges all the same. (Whether a hybrid
			// SA's rekey runs ML-KEM again depends on IKE_FOLLOWUP_KE.)
			for name, o := range map[string]*OE{"A": a, "B": b} {
				ts, now := o.Tunnels(ctx), o.Engine().SAs()[0].KeyExchanges
				if len(ts) != 1 || len(now) == 0 || ts[0].KeyExchanges.String() != now.String() {
					t.Errorf("after the IKE SA rekey: %s's tunnels %+v; want one with the new IKE SA's key exchanges %q", name, ts, now)
				}
			}
			if !tc.pq || tc.want == "mlkem768" {
				check("after the IKE SA rekey")
			}
		})
	}
}
