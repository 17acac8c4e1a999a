package policygroups

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
		{Clear, "clear"},
		{ClearOrPrivate, "clear-or-private"},
		{PrivateOrClear, "private-or-clear"},
		{Private, "private"},
		{Block, "block"},
		{In, "in"},
		{Out, "out"},
		{Both, "both"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %#v: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}
