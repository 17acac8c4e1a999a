package peers

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
		{ChildPending, "pending"},
		{ChildEstablished, "established"},
		{ChildKernelNoESP, "negotiated, kernel has no ESP"},
		{ChildRejectedByPeer, "rejected by peer"},
		{ChildFailed, "failed"},
		{Libipsec, "kernel-libipsec"},
		{Netlink, "kernel-netlink"},
		{StrongSwan5, "strongSwan 5.9"},
		{StrongSwan6, "strongSwan 6.1"},
		{StrongSwanDataplane(7), "StrongSwanDataplane(7)"},
		{ChildOutcome(42), "ChildOutcome(42)"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %#v: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}
