// Package policygroups reads the FreeS/WAN-style policy group files (clear,
// clear-or-private, private-or-clear, private, block) and answers, for any
// address, which group applies: the most specific prefix across all groups
// wins, and no match means clear. Policy.Exempt adds the hosts the daemon
// takes out of OE whatever the files say (its DNS servers), each with its
// reason, so that every answer, `oemesh policy explain`'s included, comes
// from one policy.
//
// It imports nothing of oemesh and does no I/O beyond reading the group
// files (and resolving host names through a resolver the caller supplies).
package policygroups
