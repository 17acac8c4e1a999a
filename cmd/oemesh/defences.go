package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/oemesh/oemesh/internal/control"
)

// defencesText is `oemesh status`'s lines on the daemon's defences:
// cookie mode, half-open SAs, NULL-authenticated SAs when there are any
// (or were, over a limit), and the drops by reason (sorted by name).
func defencesText(d control.Defences) string {
	mode := "off"
	if d.CookieMode {
		mode = "ON"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "defences: cookie mode %s (demanded %d, verified %d), half-open IKE SAs %d, goroutines %d",
		mode, d.CookiesDemanded, d.CookiesVerified, d.HalfOpen, d.Goroutines)
	if d.NullSAs > 0 || d.NullEvictions > 0 || d.NullRefusals > 0 {
		fmt.Fprintf(&b, "\n  NULL-authenticated IKE SAs %d (over a limit: %d evicted, %d refused)", d.NullSAs, d.NullEvictions, d.NullRefusals)
	}
	fmt.Fprintf(&b, "\n  IKE drops: %s", dropsText(d.IKEDrops))
	esp := dropsText(d.ESPDrops)
	if d.ESPDropsFrom != "" {
		esp += " (" + d.ESPDropsFrom + ")"
	} else {
		esp = "unknown (the kernel's XFRM statistics cannot be read)"
	}
	fmt.Fprintf(&b, "\n  ESP drops: %s", esp)
	return b.String()
}

func dropsText(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
