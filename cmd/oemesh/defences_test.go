package main

import (
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

func TestDefencesText(t *testing.T) {
	for _, tc := range []struct {
		d    control.Defences
		want string
	}{
		{control.Defences{Goroutines: 20, ESPDropsFrom: "userspace"},
			"defences: cookie mode off (demanded 0, verified 0), half-open IKE SAs 0, goroutines 20\n  IKE drops: none\n  ESP drops: none (userspace)"},
		{control.Defences{CookieMode: true, CookiesDemanded: 900, CookiesVerified: 12, HalfOpen: 64, Goroutines: 31,
			IKEDrops: map[string]uint64{"too_short": 4, "malformed": 3}, ESPDrops: map[string]uint64{"replay": 2, "icv": 1}, ESPDropsFrom: "xfrm_stat"},
			"defences: cookie mode ON (demanded 900, verified 12), half-open IKE SAs 64, goroutines 31\n  IKE drops: malformed=3 too_short=4\n  ESP drops: icv=1 replay=2 (xfrm_stat)"},
		{control.Defences{}, "defences: cookie mode off (demanded 0, verified 0), half-open IKE SAs 0, goroutines 0\n  IKE drops: none\n  ESP drops: unknown (the kernel's XFRM statistics cannot be read)"},
	} {
		if got := defencesText(tc.d); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.d, got, tc.want)
		}
	}
}

// The NULL SA line shows once there are NULL SAs, or were over a limit.
func TestDefencesTextNullSAs(t *testing.T) {
	d := control.Defences{Goroutines: 20, ESPDropsFrom: "userspace", NullSAs: 32, NullEvictions: 5, NullRefusals: 7}
	want := "defences: cookie mode off (demanded 0, verified 0), half-open IKE SAs 0, goroutines 20\n" +
		"  NULL-authenticated IKE SAs 32 (over a limit: 5 evicted, 7 refused)\n  IKE drops: none\n  ESP drops: none (userspace)"
	if got := defencesText(d); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
