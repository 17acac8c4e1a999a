package main

import (
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// TestTrafficTable: `oemesh traffic` shows each SA pair's key exchanges in
// their own column, "-" when the daemon no longer knows the IKE SA.
func TestTrafficTable(t *testing.T) {
	ts := []control.TunnelStatus{
		{Peer: "198.18.0.2", PeerID: "198.18.0.2", Auth: control.AuthKey, Mode: control.ModeTransport, Remote: []string{"198.18.0.2-198.18.0.2"},
			SPIIn: "c0000001", SPIOut: "c0000002", InBytes: 10, OutBytes: 20, AgeSeconds: 65, IdleSeconds: 1,
			KeyExchanges: "x25519+mlkem768", QuantumResistant: true},
		{Peer: "198.18.0.3", Auth: control.AuthNull, Mode: control.ModeTunnel, Remote: []string{"10.0.0.0-10.0.0.255"},
			SPIIn: "c0000003", SPIOut: "c0000004", KeyExchanges: "x25519"},
		{Peer: "198.18.0.4", PeerID: "@d.example", Auth: control.AuthPSK, Mode: control.ModeTunnel, SPIIn: "c0000005", SPIOut: "c0000006"},
	}
	var b strings.Builder
	if err := writeTraffic(&b, ts); err != nil {
		t.Fatal(err)
	}
	want := `PEER        ID           AUTH              MODE       REMOTE                 KEY EXCHANGE     SPI IN/OUT         BYTES IN/OUT  AGE   IDLE
198.18.0.2  198.18.0.2   key               transport  198.18.0.2-198.18.0.2  x25519+mlkem768  c0000001/c0000002  10/20         1m5s  1s
198.18.0.3  (anonymous)  null (anonymous)  tunnel     10.0.0.0-10.0.0.255    x25519           c0000003/c0000004  0/0           0s    0s
198.18.0.4  @d.example   psk               tunnel                            -                c0000005/c0000006  0/0           0s    0s
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestTrafficDetails: below the table, `oemesh traffic` shows the
// certificate of each certificate peer and the virtual IPs of each pair
// that has them, and nothing for the others.
func TestTrafficDetails(t *testing.T) {
	ts := []control.TunnelStatus{
		{Peer: "198.18.0.2", PeerID: "198.18.0.2", Auth: control.AuthKey, Mode: control.ModeTransport, SPIIn: "c0000001", SPIOut: "c0000002", KeyExchanges: "x25519"},
		{Peer: "198.18.0.5", PeerID: "CN=b.example,O=Example", Auth: control.AuthCert, Mode: control.ModeTunnel, Remote: []string{"100.64.0.7-100.64.0.7"},
			SPIIn: "c0000007", SPIOut: "c0000008", KeyExchanges: "x25519",
			PeerCert: &control.PeerCertificate{Subject: "CN=b.example,O=Example", Issuer: "CN=Example CA", DNSNames: []string{"b.example"},
				IPAddresses: []string{"198.18.0.5"}, NotAfter: time.Date(2027, 3, 1, 11, 0, 0, 0, time.UTC), Fingerprint: "SHA256:abc"},
			VirtualIPs: []string{"100.64.0.7"}},
		{Peer: "198.18.0.6", Auth: control.AuthNull, Mode: control.ModeTunnel, SPIIn: "c0000009", SPIOut: "c000000a", Initiator: true,
			VirtualIPs: []string{"100.64.1.2", "fd00::2"}},
	}
	var b strings.Builder
	if err := writeTraffic(&b, ts); err != nil {
		t.Fatal(err)
	}
	_, details, _ := strings.Cut(b.String(), "\n\n")
	want := `198.18.0.5 (SPI c0000007/c0000008):
  certificate:  CN=b.example,O=Example
  alt names:    b.example, 198.18.0.5
  issuer:       CN=Example CA
  expires:      2027-03-01 11:00:00 UTC
  fingerprint:  SHA256:abc
  virtual IP:   100.64.0.7 (leased to the peer)

198.18.0.6 (SPI c0000009/c000000a):
  virtual IP:   100.64.1.2, fd00::2 (assigned to us)
`
	if details != want {
		t.Errorf("details:\n%s\nwant\n%s", details, want)
	}
	if !strings.Contains(b.String(), "198.18.0.5  CN=b.example,O=Example  cert ") {
		t.Errorf("the table does not show the certificate peer:\n%s", b.String())
	}
}

// TestIKESAsText: `oemesh status` counts the IKE SAs and the
// quantum-resistant ones, then each key exchange chain, the most common
// first.
func TestIKESAsText(t *testing.T) {
	for _, tc := range []struct {
		sum  control.IKESASummary
		want string
	}{
		{control.IKESASummary{}, "IKE SAs: 0, quantum-resistant: 0"},
		{control.IKESASummary{Total: 4, QuantumResistant: 3, ByKeyExchanges: map[string]int{"x25519": 1, "mlkem768": 1, "x25519+mlkem768": 2}},
			"IKE SAs: 4, quantum-resistant: 3 (x25519+mlkem768: 2, mlkem768: 1, x25519: 1)"},
	} {
		if got := ikeSAsText(tc.sum); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.sum, got, tc.want)
		}
	}
}

// TestUDPEncapText: `oemesh status` says when ESP goes in UDP, with the
// configured value and why, and how the SA pairs' ESP travels.
func TestUDPEncapText(t *testing.T) {
	for _, tc := range []struct {
		u    control.UDPEncapStatus
		want string
	}{
		{control.UDPEncapStatus{Configured: "auto", InEffect: control.UDPEncapAlways, Why: "the userspace data plane's fast path",
			SAs: map[control.ESPTransport]int{control.ESPTransportUDP: 2, control.ESPTransportRaw: 0}},
			"udp encapsulation: always (kernel.udp_encap auto: the userspace data plane's fast path); SA pairs: 2 ESP-in-UDP, 0 raw ESP"},
		{control.UDPEncapStatus{Configured: "never", InEffect: control.UDPEncapNAT, Why: "as configured",
			SAs: map[control.ESPTransport]int{control.ESPTransportUDP: 1, control.ESPTransportRaw: 3}},
			"udp encapsulation: only behind a NAT (kernel.udp_encap never: as configured); SA pairs: 1 ESP-in-UDP, 3 raw ESP"},
	} {
		if got := udpEncapText(tc.u); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.u, got, tc.want)
		}
	}
}
