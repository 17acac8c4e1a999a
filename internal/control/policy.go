package control

import "time"

// PolicySummary counts prefixes per group and says when they were loaded.
type PolicySummary struct {
	// Dir is the policy directory.
	Dir string `json:"dir"`
	// Loaded is when it was last read (RFC 3339).
	Loaded time.Time `json:"loaded"`
	// Counts is the number of prefixes in each group.
	Counts map[Group]int `json:"counts"`
	// Warnings are the problems that did not stop the load, each
	// "FILE:LINE: message".
	Warnings []string `json:"warnings,omitempty"`
}

// PolicyCheck is the reply to POST /v1/policy/check and /v1/policy/reload
// (and what `oemesh policy check --dir` prints without a daemon).
type PolicyCheck struct {
	// Dir is the policy directory checked.
	Dir string `json:"dir"`
	// OK is true when the files have no errors.
	OK bool `json:"ok"`
	// Errors are the files' errors, each "FILE:LINE: message".
	Errors []string `json:"errors,omitempty"`
	// Warnings are the problems that are not errors, each
	// "FILE:LINE: message".
	Warnings []string `json:"warnings,omitempty"`
	// Prefixes counts the prefixes of all groups.
	Prefixes int `json:"prefixes"`
	// Exclusions counts the lines of portexcludes.conf.
	Exclusions int `json:"exclusions,omitempty"`
	// Added, Removed and Changed count the prefixes a reload added,
	// removed or moved to another group.
	Added   int `json:"added,omitempty"`
	Removed int `json:"removed,omitempty"`
	Changed int `json:"changed,omitempty"`
	// Applied is true when a reload put the new policy in force.
	Applied bool `json:"applied,omitempty"`
}

// Explanation is the reply to GET /v1/policy/explain?addr=ADDR (and what
// `oemesh policy explain --dir` prints without a daemon): which group
// applies to an address and what decided it. The optional query
// parameters proto (an IP protocol number) and port (the destination
// port) ask about one flow to the address, which a port exclusion may
// keep clear.
type Explanation struct {
	// Address is the address asked about.
	Address string `json:"address"`
	// Group is the group that applies.
	Group Group `json:"group"`
	// Prefix is the most specific prefix that matched (CIDR), or null when
	// none did and Group is the default, clear.
	Prefix *string `json:"prefix"`
	// Source is where the match was written: "FILE:LINE" of a policy
	// file, "conn NAME in FILE" for a conn, "oemeshd exemption" for a host
	// the daemon took out of OE, or "default".
	Source string `json:"source"`
	// Host is the host name the prefix was resolved from, if it was
	// written as one.
	Host string `json:"host,omitempty"`
	// Conn names the configured conn that covers the address; a conn is
	// more specific than the policy groups (its Group is then private).
	Conn string `json:"conn,omitempty"`
	// Exemption says why the daemon took the address out of OE, e.g. "DNS
	// server from /etc/resolv.conf" (dns.exempt_servers); Group is then
	// clear-or-private, whatever the policy files say.
	Exemption string `json:"exemption,omitempty"`
	// PortExclusion is the line of portexcludes.conf that keeps the flow
	// asked about clear (Group is then clear, Source its FILE:LINE), as
	// "direction protocol source destination priority".
	PortExclusion string `json:"port_exclusion,omitempty"`
}
