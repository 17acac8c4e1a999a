// Package fake is a kernel.Dataplane that records every call and keeps the
// state a real backend would (traps, SA pairs, shunts), so tests of the
// orchestrator can assert what was asked and inject acquires and expires.
//
// It imports only kernel and must never touch the host's network.
package fake
