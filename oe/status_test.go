package oe

import (
	"context"
	"crypto"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/oe/tunnel"
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

// TestTunnelSAsOf: a tunnel takes its IKE SA's certificate, virtual IPs
// and key exchanges from the SA that holds its CHILD SA now, else from the
// one it was negotiated under, else nothing.
func TestTunnelSAsOf(t *testing.T) {
	cert := &ike.PeerCertificate{Subject: "CN=b.example"}
	vips := []netip.Addr{netip.MustParseAddr("100.64.0.7")}
	old, cur := ike.SAID{SPIi: ike.SPI{1}}, ike.SAID{SPIi: ike.SPI{2}}
	k := indexSAs([]ike.SAInfo{
		{ID: old, KeyExchanges: ike.KeyExchanges{ike.DHCurve25519}},
		{ID: cur, PeerCert: cert, VirtualIPs: vips, KeyExchanges: ike.KeyExchanges{ike.DHCurve25519, ike.DHMLKEM768},
			Children: []ike.ChildSAInfo{{SPIIn: 7}}},
	})
	tn := func(id ike.SAID, spi uint32) tunnel.Tunnel {
		return tunnel.Tunnel{IKE: id, ID: kernel.SAPairID{InSPI: spi}}
	}
	if sa := k.of(tn(old, 7)); sa.ID != cur || sa.PeerCert != cert || len(sa.VirtualIPs) != 1 || sa.VirtualIPs[0] != vips[0] {
		t.Errorf("moved CHILD SA: %+v, want the current IKE SA's certificate and virtual IPs", sa)
	}
	if sa := k.of(tn(old, 8)); sa.ID != old || sa.PeerCert != nil || sa.KeyExchanges.String() != "x25519" {
		t.Errorf("by IKE SA: %+v", sa)
	}
	if sa := k.of(tn(ike.SAID{SPIi: ike.SPI{3}}, 9)); sa.PeerCert != nil || sa.VirtualIPs != nil || len(sa.KeyExchanges) != 0 {
		t.Errorf("unknown IKE SA: %+v, want nothing", sa)
	}
}

// TestChildOf: a tunnel's CHILD SA is found by its inbound SPI, with
// how its ESP travels; a pair the IKE SA no longer lists is not found.
func TestChildOf(t *testing.T) {
	sa := ike.SAInfo{Children: []ike.ChildSAInfo{{SPIIn: 1}, {SPIIn: 2, Encap: true}}}
	for _, tc := range []struct {
		spi           uint32
		listed, encap bool
	}{{1, true, false}, {2, true, true}, {3, false, false}} {
		c, ok := childOf(sa, tc.spi)
		if ok != tc.listed || c.Encap != tc.encap {
			t.Errorf("SPI %d: listed %v, encap %v; want %v, %v", tc.spi, ok, c.Encap, tc.listed, tc.encap)
		}
	}
}
