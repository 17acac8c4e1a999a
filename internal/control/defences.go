package control

// Defences is what the daemon does against a hostile network, in
// Status.Defences: cookies, half-open SAs, and the IKE and ESP packets it
// dropped, by reason. Counters count since the daemon started (ESP drops
// on the kernel data plane: since its network namespace was made) and
// never go down.
type Defences struct {
	// CookieMode is true while IKE_SA_INIT requests are being answered
	// with a cookie demand (RFC 7296 §2.6); it turns off once none was
	// demanded for a few seconds (ike.CookieModeHold).
	CookieMode bool `json:"cookie_mode"`
	// CookiesDemanded counts the COOKIE notifies sent; CookiesVerified
	// the requests that came back with one that verified.
	CookiesDemanded uint64 `json:"cookies_demanded"`
	CookiesVerified uint64 `json:"cookies_verified"`
	// HalfOpen counts responder IKE SAs past IKE_SA_INIT and short of
	// IKE_AUTH now.
	HalfOpen int `json:"half_open"`
	// NullSAs counts the IKE SAs of peers that authenticated with NULL
	// now, as ike.limits.null_sas and null_sas_per_source count them;
	// NullEvictions those deleted to make room for a new one over a
	// limit (the one idle longest), NullRefusals the new ones refused
	// over a limit with none idle enough to delete.
	NullSAs       int    `json:"null_sas"`
	NullEvictions uint64 `json:"null_evictions"`
	NullRefusals  uint64 `json:"null_refusals"`
	// IKEDrops counts the IKE messages dropped unanswered, by reason
	// (ike.DropReason's names: malformed, unknown_spi, integrity,
	// old_message_id, bad_cookie, half_open_limit, ...), and those the
	// IKE sockets dropped before the engine saw them: too_short (fewer
	// octets than an IKE header, or than ESP on the NAT-T port) and
	// overrun. Reasons that never happened are left out.
	IKEDrops map[string]uint64 `json:"ike_drops,omitempty"`
	// ESPDrops counts the inbound ESP packets dropped, by reason:
	// unknown_spi (no SA has the SPI), icv (the integrity check failed),
	// replay (a sequence number seen before or left of the window), and
	// the data plane's others (truncated, trailer, selector, sa_expired;
	// the kernel's header, buffer, mode, sa_invalid, error). Reasons that
	// never happened are left out.
	ESPDrops map[string]uint64 `json:"esp_drops,omitempty"`
	// ESPDropsFrom says where ESPDrops come from: "userspace" (the data
	// plane's own counters), "xfrm_stat" (the kernel's
	// /proc/net/xfrm_stat in the daemon's network namespace, which counts
	// every XFRM state there, not only ours), or "" when they cannot be
	// read (a kernel without CONFIG_XFRM_STATISTICS).
	ESPDropsFrom string `json:"esp_drops_from,omitempty"`
	// Goroutines is the daemon's number of goroutines now: a leak shows
	// here first.
	Goroutines int `json:"goroutines"`
}
