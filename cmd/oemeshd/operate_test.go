package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/oe"
)

// TestPeersView: one entry per peer address with an established IKE SA,
// its identity and keying from the newest SA, its installed tunnels'
// bytes summed and the least idle time; half-open SAs are no peers, and a
// peer without a tunnel has no idle time.
func TestPeersView(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	b, c, h := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.4")
	port := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, 500) }
	classical := ike.KeyExchanges{ike.DHCurve25519}
	hybrid := ike.KeyExchanges{ike.DHCurve25519, ike.DHMLKEM768}
	sas := []ike.SAInfo{
		{Remote: port(b), PeerID: ike.AddrIdentity(b), PeerAuth: ike.AuthKindPubkey, KeyExchanges: classical, Established: t0,
			Children: []ike.ChildSAInfo{{SPIIn: 1}, {SPIIn: 2}}},
		{Remote: port(b), PeerID: ike.AddrIdentity(b), PeerAuth: ike.AuthKindPubkey, KeyExchanges: hybrid, Established: t0.Add(time.Minute),
			Children: []ike.ChildSAInfo{{SPIIn: 3}, {SPIIn: 99}}}, // 99: not installed
		{Remote: port(c), PeerAuth: ike.AuthKindNull, KeyExchanges: classical, Established: t0},
		{Remote: port(h)}, // half-open
	}
	ts := []oe.TunnelStatus{
		{SPIIn: 1, InBytes: 10, OutBytes: 20, Idle: 30 * time.Second},
		{SPIIn: 2, InBytes: 1, OutBytes: 2, Idle: 5 * time.Second},
		{SPIIn: 3, InBytes: 100, OutBytes: 200, Idle: 9 * time.Second},
	}
	got := peersView(sas, ts)
	five := int64(5)
	want := []control.Peer{
		{Addr: "198.18.0.2", ID: "198.18.0.2", Auth: control.AuthKey, KeyExchanges: "x25519+mlkem768", QuantumResistant: true,
			IKESAs: 2, Tunnels: 3, InBytes: 111, OutBytes: 222, LastHandshake: t0.Add(time.Minute), IdleSeconds: &five},
		{Addr: "198.18.0.3", Auth: control.AuthNull, KeyExchanges: "x25519", IKESAs: 1, LastHandshake: t0},
	}
	if !jsonEqual(t, got, want) {
		t.Errorf("peers:\n got %+v\nwant %+v", got, want)
	}
}

// TestPeersViewCertAndLease: a peer that authenticated with a certificate
// shows it, and the mode config addresses of its newest IKE SA with whose
// they are; an older IKE SA's are not shown.
func TestPeersViewCertAndLease(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	b := netip.MustParseAddr("198.18.0.2")
	cert := &ike.PeerCertificate{Raw: []byte("der"), Subject: "CN=www.example", Issuer: "CN=Example CA",
		DNSNames: []string{"www.example"}, NotAfter: t0.Add(90 * 24 * time.Hour)}
	sas := []ike.SAInfo{
		{Remote: netip.AddrPortFrom(b, 4500), PeerAuth: ike.AuthKindCert, PeerCert: cert, Initiator: true, Established: t0,
			VirtualIPs: []netip.Addr{netip.MustParseAddr("100.64.0.9")}},
		{Remote: netip.AddrPortFrom(b, 4500), PeerAuth: ike.AuthKindCert, PeerCert: cert, Initiator: true, Established: t0.Add(time.Minute),
			VirtualIPs: []netip.Addr{netip.MustParseAddr("100.64.0.1")}},
	}
	got := peersView(sas, nil)
	if len(got) != 1 {
		t.Fatalf("%d peers, want 1: %+v", len(got), got)
	}
	p := got[0]
	if p.PeerCert == nil || p.PeerCert.Subject != "CN=www.example" || p.PeerCert.Issuer != "CN=Example CA" ||
		!p.PeerCert.NotAfter.Equal(cert.NotAfter) || len(p.PeerCert.DNSNames) != 1 || p.PeerCert.DNSNames[0] != "www.example" {
		t.Errorf("peer certificate %+v, want www.example's", p.PeerCert)
	}
	if len(p.VirtualIPs) != 1 || p.VirtualIPs[0] != "100.64.0.1" || !p.Initiator {
		t.Errorf("virtual IPs %v (initiator %v), want the newest IKE SA's 100.64.0.1, assigned to us", p.VirtualIPs, p.Initiator)
	}
}
