package userspace

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
		{dropNone, "none"},
		{dropNoSA, "no-sa"},
		{dropTruncated, "truncated"},
		{dropAuth, "auth"},
		{dropReplay, "replay"},
		{dropTrailer, "trailer"},
		{dropSelector, "selector"},
		{dropMalformed, "malformed"},
		{dropDummy, "dummy"},
		{dropHoldFull, "hold-full"},
		{dropHoldTimeout, "hold-timeout"},
		{dropShunt, "shunt-drop"},
		{dropBlock, "block"},
		{dropNoTrap, "no-trap"},
		{dropSAExpired, "sa-expired"},
		{dropSeqOverflow, "seq-overflow"},
		{dropFragment, "transport-fragment"},
		{dropTooBig, "too-big"},
		{dropSendError, "send-error"},
		{dropTUNWrite, "tun-write"},
		{dropAcquireBacklog, "acquire-backlog"},
		{dropInjectBacklog, "inject-backlog"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%T %#v: String() = %q, want %q", tc.v, tc.v, got, tc.want)
		}
	}
}
