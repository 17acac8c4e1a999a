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
