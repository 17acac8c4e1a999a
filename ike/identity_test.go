package ike

import (
	"net/netip"
	"testing"
)

// TestSameIdentity: FQDNs compare as DNS names (case, final dot); other
// identities octet for octet (DNs: identity_dn_test.go).
func TestSameIdentity(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.2")
	for _, tc := range []struct {
		x, y Identity
		want bool
	}{
		{FQDNIdentity("b.example"), FQDNIdentity("b.example."), true},
		{FQDNIdentity("B.Example."), FQDNIdentity("b.example"), true},
		{FQDNIdentity("b.example"), FQDNIdentity("c.example"), false},
		{FQDNIdentity("b.example.."), FQDNIdentity("b.example"), false},
		{FQDNIdentity("198.18.0.2"), AddrIdentity(a), false},
		{AddrIdentity(a), AddrIdentity(a), true},
		{Identity{Type: IDKeyID, Data: []byte("Ab")}, Identity{Type: IDKeyID, Data: []byte("ab")}, false},
	} {
		if got := SameIdentity(tc.x, tc.y); got != tc.want {
			t.Errorf("SameIdentity(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
