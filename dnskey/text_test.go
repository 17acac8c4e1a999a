package dnskey

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

// TestPeerKeyJSONRoundTrip: what the daemon sends (`/v1/peers`) decodes
// back into the same fields on the client side.
func TestPeerKeyJSONRoundTrip(t *testing.T) {
	for _, k := range []PeerKey{
		{Source: SourceIPSECKEY, Precedence: 10, Gateway: Gateway{Kind: GatewayAddr, Addr: netip.MustParseAddr("198.18.0.5")}, Algorithm: AlgorithmEdDSA, TTL: time.Minute, Secure: true},
		{Source: SourceTXT, Gateway: Gateway{Kind: GatewayName, Name: "gw.example."}, Algorithm: AlgorithmRSA},
		{Source: SourceKEY, Algorithm: Algorithm(200)},
	} {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var got PeerKey
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got.Source != k.Source || got.Gateway != k.Gateway || got.Algorithm != k.Algorithm || got.Precedence != k.Precedence {
			t.Errorf("round trip of %s: %+v", b, got)
		}
	}
	var s Source
	if err := s.UnmarshalText([]byte("SRV")); err == nil {
		t.Error("unknown source accepted")
	}
}
