package main

import (
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// nullLimits is the engine's caps on NULL-authenticated IKE SAs from
// ike.limits.*: the configuration's 0 (no limit) is the engine's -1, as
// the engine's 0 means its default.
func nullLimits(c config.IKELimits) ike.NullLimits {
	unlimited := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	return ike.NullLimits{Total: unlimited(c.NullSAs), PerSource: unlimited(c.NullSAsPerSource), MinIdle: c.NullIdle}
}
