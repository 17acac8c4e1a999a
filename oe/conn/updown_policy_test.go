package conn

import (
	"testing"

	"github.com/oemesh/oemesh/ike"
)

// TestConnPolicy: PLUTO_CONN_POLICY names the authentication as Libreswan
// does; a certificate conn is RSASIG, as Libreswan's leftcert conns are.
func TestConnPolicy(t *testing.T) {
	for _, tc := range []struct {
		auth ike.AuthKind
		mode ike.Mode
		want string
	}{
		{ike.AuthKindPSK, ike.ModeTunnel, "PSK+ENCRYPT+TUNNEL+IKEV2_ALLOW"},
		{ike.AuthKindPubkey, ike.ModeTunnel, "RSASIG+ENCRYPT+TUNNEL+IKEV2_ALLOW"},
		{ike.AuthKindCert, ike.ModeTunnel, "RSASIG+ENCRYPT+TUNNEL+IKEV2_ALLOW"},
		{ike.AuthKindCert, ike.ModeTransport, "RSASIG+ENCRYPT+IKEV2_ALLOW"},
		{ike.AuthKindNull, ike.ModeTunnel, "AUTHNULL+ENCRYPT+TUNNEL+IKEV2_ALLOW"},
	} {
		cs := &connState{Conn: Conn{Name: "c", Auth: tc.auth, Mode: tc.mode}}
		if got := connPolicy(cs); got != tc.want {
			t.Errorf("auth %v, mode %v: PLUTO_CONN_POLICY=%s, want %s", tc.auth, tc.mode, got, tc.want)
		}
	}
}
