package control

import "time"

// Status is the reply to GET /v1/status.
type Status struct {
	Version   string         `json:"version"`
	PID       int            `json:"pid"`
	Started   time.Time      `json:"started"`
	Uptime    string         `json:"uptime"`
	Config    map[string]any `json:"config"`
	Policy    PolicySummary  `json:"policy"`
	Dataplane string         `json:"dataplane,omitempty"`
	Why       string         `json:"dataplane_reason,omitempty"`
	Identity  string         `json:"identity,omitempty"`
	// KeyFingerprint is the host key's, as `oemesh showhostkey` prints it.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// Counts: tunnels, shunts, handshakes, failures, DNS look-ups…
	Counts map[string]uint64 `json:"counts,omitempty"`
}

// UpRequest is the body of POST /v1/up and /v1/down.
type UpRequest struct {
	Addr string `json:"addr"`
}

// UpReply answers POST /v1/up and /v1/down.
type UpReply struct {
	Addr    string `json:"addr"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail"`
	Deleted int    `json:"deleted,omitempty"`
}

// PolicySummary counts prefixes per group and says when they were loaded.
type PolicySummary struct {
	Dir      string         `json:"dir"`
	Loaded   time.Time      `json:"loaded"`
	Counts   map[string]int `json:"counts"`
	Warnings []string       `json:"warnings,omitempty"`
}

// PolicyCheck is the reply to POST /v1/policy/check and /v1/policy/reload.
type PolicyCheck struct {
	Dir      string   `json:"dir"`
	OK       bool     `json:"ok"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Prefixes int      `json:"prefixes"`
	// For a reload: what changed.
	Added   int  `json:"added,omitempty"`
	Removed int  `json:"removed,omitempty"`
	Changed int  `json:"changed,omitempty"`
	Applied bool `json:"applied,omitempty"`
}
