package control

import "time"

// Status is the reply to GET /v1/status (`oemesh status`).
type Status struct {
	// Version is the daemon's build version.
	Version string `json:"version"`
	// PID is the daemon's process ID.
	PID int `json:"pid"`
	// Started is when the daemon started (RFC 3339).
	Started time.Time `json:"started"`
	// Uptime is the time since Started, as a Go duration rounded to the
	// second (e.g. "1h2m3s"), for people.
	Uptime string `json:"uptime"`
	// Config is the configuration in force, by dotted key, and one
	// "conn NAME" entry per configured conn summing up its state in
	// prose. The values are for people; their form may change.
	Config map[string]any `json:"config"`
	// Policy sums up the policy groups in force.
	Policy PolicySummary `json:"policy"`
	// Dataplane names the data plane in use ("xfrm" or "userspace");
	// empty when the OE stack is not running.
	Dataplane string `json:"dataplane,omitempty"`
	// Why says why that data plane was chosen, in prose.
	Why string `json:"dataplane_reason,omitempty"`
	// UDPEncap is kernel.udp_encap as it is in effect for that data
	// plane; nil when the OE stack is not running.
	UDPEncap *UDPEncapStatus `json:"udp_encap,omitempty"`
	// Identity is the daemon's IKE identity (an IP address or @FQDN);
	// empty when it is the address of each SA.
	Identity string `json:"identity,omitempty"`
	// KeyFingerprint is the host key's, as `oemesh showhostkey` prints it.
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// Publish is the state of dns.publish; absent when it is off.
	Publish *PublishStatus `json:"publish,omitempty"`
	// Counts are event counters since the start, by name: tunnels and
	// shunts (now), acquires, handshakes, dns_lookups, refused,
	// cipher_states, tun_batch (packets per TUN read or write),
	// tun_offloads (1: TSO and GRO on the TUN device, 0: off),
	// udp_gso_sockets and udp_gro_sockets (NAT-T sockets sending
	// ESP-in-UDP with UDP GSO, reading it with UDP GRO) (userspace data
	// plane only), bindings (addresses
	// bound to forward names now), binding_hits and binding_misses (OE
	// negotiations that found a binding for their target, or none), one
	// "failures:REASON" per failure reason, and with the DNS stub on
	// (dns.stub.listen) dns_stub_queries, dns_stub_forwarded,
	// dns_stub_servfail, dns_stub_lookups, dns_stub_lookups_failed,
	// dns_stub_dropped, dns_stub_bindings, dns_stub_bind_failed and
	// dns_stub_prestarts.
	Counts map[string]uint64 `json:"counts,omitempty"`
	// IKESAs sums up the IKE SAs that carry tunnels by their key
	// exchanges; nil when the OE stack is not running.
	IKESAs *IKESASummary `json:"ike_sas,omitempty"`
	// Defences are the cookies, half-open SAs and dropped packets; nil
	// when the OE stack is not running.
	Defences *Defences `json:"defences,omitempty"`
}

// UDPEncapStatus is kernel.udp_encap resolved: what the configuration
// says, what it means on the data plane in use, and how the installed SA
// pairs' ESP travels.
type UDPEncapStatus struct {
	// Configured is kernel.udp_encap: "auto", "always" or "never".
	Configured string `json:"configured"`
	// InEffect is when ESP goes in UDP: Configured with auto resolved.
	InEffect UDPEncap `json:"in_effect"`
	// Why says why, in prose: "as configured", or with auto what
	// about the data plane decided it.
	Why string `json:"reason"`
	// SAs counts the installed SA pairs by their ESP transport; pairs
	// whose IKE SA the daemon no longer lists (a rekeyed pair waiting for
	// its Delete) are not counted.
	SAs map[ESPTransport]int `json:"sas"`
}

// IKESASummary counts the IKE SAs that carry tunnels (installed CHILD SA
// pairs: OE's and the configured conns'), by how they were keyed.
type IKESASummary struct {
	// Total counts them.
	Total int `json:"total"`
	// QuantumResistant counts those that ran an ML-KEM key exchange (see
	// TunnelStatus.QuantumResistant).
	QuantumResistant int `json:"quantum_resistant"`
	// ByKeyExchanges counts them by their key exchanges, written as
	// TunnelStatus.KeyExchanges; omitted when Total is 0.
	ByKeyExchanges map[string]int `json:"by_key_exchanges,omitempty"`
}

// UpRequest is the body of POST /v1/up and /v1/down.
type UpRequest struct {
	// Addr is the peer's IP address.
	Addr string `json:"addr"`
}

// UpReply answers POST /v1/up and /v1/down.
type UpReply struct {
	// Addr is the peer's IP address, as the daemon read it.
	Addr string `json:"addr"`
	// OK is true when the tunnel came up (up) or SAs were deleted (down).
	OK bool `json:"ok"`
	// Detail says what happened, or why not, in prose for people.
	Detail string `json:"detail"`
	// Deleted counts the IKE SAs that down deleted.
	Deleted int `json:"deleted,omitempty"`
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
	// RSS and RSSAnon are VmRSS and RssAnon from /proc/self/status, in
	// bytes.
	RSS     uint64 `json:"rss_bytes"`
	RSSAnon uint64 `json:"rss_anon_bytes"`
	// Goroutines counts the daemon's goroutines (/sched/goroutines):
	// with thousands of peers it shows whether any are per peer.
	Goroutines uint64 `json:"goroutines"`
}

// PublishStatus is where the daemon's self-publication (dns.publish)
// stands.
type PublishStatus struct {
	// State is pending, published, retrying or withdrawn.
	State string `json:"state"`
	// Records says what is published where, for people.
	Records string `json:"records"`
	// Attempts are the failed UPDATE rounds since the last success.
	Attempts int `json:"attempts,omitempty"`
	// LastError is the last failure (server, zone, records and rcode);
	// empty after a success.
	LastError string `json:"last_error,omitempty"`
	// Since is when the current state began.
	Since time.Time `json:"since"`
	// NextRetry is when the next attempt is due, while retrying.
	NextRetry *time.Time `json:"next_retry,omitempty"`
}
