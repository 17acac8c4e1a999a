package ike

import (
	"fmt"
	"testing"
)

// TestEnumStrings pins the text String() gives every value of the enums
// whose String method stringer generates (go generate): logs, the CLI and
// the control API show these words, so regenerating must not change them.
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		v    fmt.Stringer
		want string
	}{
		{AuthKindNone, "none"},
		{AuthKindPubkey, "pubkey"},
		{AuthKindPSK, "psk"},
		{AuthKindNull, "null"},
		{DropMalformed, "malformed"},
		{DropUnknownSPI, "unknown_spi"},
		{DropIntegrity, "integrity"},
		{DropOldMessageID, "old_message_id"},
		{DropUnexpectedExchange, "unexpected_exchange"},
		{DropUnexpectedResponse, "unexpected_response"},
		{DropHalfOpenLimit, "half_open_limit"},
		{DropBadCookie, "bad_cookie"},
		{DropClosed, "closed"},
		{DropInvalid, "invalid"},
		{DropBusy, "busy"},
		{ModeUnset, "unset"},
		{ModeTransport, "transport"},
		{ModeTunnel, "tunnel"},
		{childLarval, "LARVAL"},
		{childInstalled, "INSTALLED"},
		{childRekeyed, "REKEYED"},
		{childDeleting, "DELETING"},
		{childDead, "DEAD"},
		{stInitSent, "INIT_SENT"},
		{stAuthSent, "AUTH_SENT"},
		{stHalfOpen, "HALF_OPEN"},
		{stEstablished, "ESTABLISHED"},
		{stRekeyed, "REKEYED"},
		{stDeleting, "DELETING"},
		{stDead, "DEAD"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %#v: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}
