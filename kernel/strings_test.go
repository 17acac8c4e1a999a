package kernel

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
		{AESGCM16, "aes-gcm-16"},
		{ChaCha20Poly1305, "chacha20-poly1305"},
		{ExpireSoft, "soft"},
		{ExpireHard, "hard"},
		{ExpireShunt, "shunt"},
		{ExpireSPI, "spi"},
		{GroupClear, "clear"},
		{GroupClearOrPrivate, "clear-or-private"},
		{GroupPrivateOrClear, "private-or-clear"},
		{GroupPrivate, "private"},
		{GroupBlock, "block"},
		{ModeUnset, "unset"},
		{ModeTransport, "transport"},
		{ModeTunnel, "tunnel"},
		{ShuntPass, "pass"},
		{ShuntDrop, "drop"},
		{ShuntHold, "hold"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %#v: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}
