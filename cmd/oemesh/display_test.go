package main

import (
	"strings"
	"testing"

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
