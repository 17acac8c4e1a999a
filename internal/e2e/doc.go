// Package e2e holds the end-to-end tests of the opportunistic mesh: real
// oemeshd processes in network namespaces (internal/lab's standard mesh)
// with the embedded DNS server, checked on the wire. It has no code of its
// own beyond test helpers.
package e2e
