package main

import (
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// initLimits are the engine's IKE_SA_INIT flood defences from
// ike.limits.*. The configuration's 0 means off where the engine's zero
// means its default: off is negative there.
func initLimits(c config.IKELimits) ike.InitLimits {
	l := ike.InitLimits{
		LateCookieCheck:     !c.EarlyCookieCheck,
		SourceRate:          float64(c.CookiesPerSource),
		SourceBurst:         int(c.CookieBurstPerSource),
		BusyHalfOpenTimeout: c.BusyHalfOpenTimeout,
	}
	if c.CookiesPerSource == 0 {
		l.SourceRate = -1
	}
	if c.BusyHalfOpenTimeout == 0 {
		l.BusyHalfOpenTimeout = -1
	}
	return l
}
