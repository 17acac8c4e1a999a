// Package leftovers finds, and for dead runs removes, what oemesh's tests
// leave on a machine: named network namespaces with the test beds'
// prefixes, nsfs mounts of them that no name reaches any more, XFRM state
// and policies in oemesh's bands, oemesh's TUN devices, and the daemons the
// tests start (oemeshd, charon, pluto, knotd, unbound, nsd) still running.
//
// `make test` ends with the check (./internal/leftovers/check), which fails
// naming each leftover; the test suites that build meshes call SweepDead at
// start, which removes what a run killed by `go test -timeout` (a panic that
// runs no t.Cleanup) left behind.
//
// What is "ours" is decided by name: the prefixes in names.go, which every
// test that makes namespaces uses. It must never be imported by the daemon.
package leftovers
