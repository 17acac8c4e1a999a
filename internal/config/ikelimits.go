package config

import "time"

// IKELimits is the ike.limits.* section: the responder's defences against
// a flood of IKE_SA_INIT requests.
type IKELimits struct {
	CookieThreshold      uint32
	EarlyCookieCheck     bool
	CookiesPerSource     uint32 // 0: no limit
	CookieBurstPerSource uint32
	BusyHalfOpenTimeout  time.Duration // 0: off
	ReadBatch            uint32
	WorkQueue            uint32 // 0: no queue, the reader hands datagrams to the engine
	// NullSAs and NullSAsPerSource cap the IKE SAs of NULL-authenticated
	// peers, in total and per IPv4 address or IPv6 /64 (0: no limit);
	// NullIdle is how long one must be idle to be evicted for a new one
	// (ike.NullLimits).
	NullSAs, NullSAsPerSource int
	NullIdle                  time.Duration
}

// ikeLimits reads the ike.limits.* keys.
func ikeLimits(v map[string]any) IKELimits {
	return IKELimits{
		CookieThreshold:      v["ike.limits.cookie_threshold"].(uint32),
		EarlyCookieCheck:     v["ike.limits.early_cookie_check"].(bool),
		CookiesPerSource:     v["ike.limits.cookies_per_source"].(uint32),
		CookieBurstPerSource: v["ike.limits.cookie_burst_per_source"].(uint32),
		BusyHalfOpenTimeout:  v["ike.limits.busy_half_open_timeout"].(time.Duration),
		ReadBatch:            v["ike.limits.read_batch"].(uint32),
		WorkQueue:            v["ike.limits.work_queue"].(uint32),
		NullSAs:              int(v["ike.limits.null_sas"].(uint32)),
		NullSAsPerSource:     int(v["ike.limits.null_sas_per_source"].(uint32)),
		NullIdle:             v["ike.limits.null_idle"].(time.Duration),
	}
}

// summary is the ike.limits.* part of Summary.
func (l IKELimits) summary() map[string]any {
	return map[string]any{
		"ike.limits.cookie_threshold":        l.CookieThreshold,
		"ike.limits.early_cookie_check":      l.EarlyCookieCheck,
		"ike.limits.cookies_per_source":      l.CookiesPerSource,
		"ike.limits.cookie_burst_per_source": l.CookieBurstPerSource,
		"ike.limits.busy_half_open_timeout":  l.BusyHalfOpenTimeout.String(),
		"ike.limits.read_batch":              l.ReadBatch,
		"ike.limits.work_queue":              l.WorkQueue,
		"ike.limits.null_sas":                l.NullSAs,
		"ike.limits.null_sas_per_source":     l.NullSAsPerSource,
		"ike.limits.null_idle":               l.NullIdle.String(),
	}
}
