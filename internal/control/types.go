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

// Memory is the reply to GET /v1/memory: the daemon's memory as the Go
// runtime and the kernel see it.
type Memory struct {
	// Collected is true when the request made a garbage collection first
	// (?gc=1), so HeapLive is the heap of live objects now.
	Collected bool `json:"collected"`
	// HeapLive is the heap that the last garbage collection marked live
	// (runtime/metrics /gc/heap/live:bytes).
	HeapLive uint64 `json:"heap_live_bytes"`
	// HeapObjects counts the objects allocated and not yet freed.
	HeapObjects uint64 `json:"heap_objects"`
	// HeapGoal is the heap size at which the next collection starts.
	HeapGoal uint64 `json:"heap_goal_bytes"`
	// Mapped is all memory the runtime has mapped
	// (/memory/classes/total:bytes).
	Mapped uint64 `json:"mapped_bytes"`
	// GCCycles counts the garbage collections so far.
	GCCycles uint64 `json:"gc_cycles"`
	// RSS and RSSAnon are VmRSS and RssAnon from /proc/self/status.
	RSS     uint64 `json:"rss_bytes"`
	RSSAnon uint64 `json:"rss_anon_bytes"`
}
