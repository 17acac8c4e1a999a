// Package netnstest is a small harness for tests that need network
// namespaces: it creates named namespaces and veth pairs that are removed
// with t.Cleanup even when the test fails, and runs a function inside a
// namespace on a locked OS thread.
//
// Names carry the process id and a counter, so parallel test binaries (and
// other engineers' tests on the same machine) never collide. Only test code
// may import it; it must never be imported by a package that ships in the
// daemon. It imports nothing of oemesh.
package netnstest
