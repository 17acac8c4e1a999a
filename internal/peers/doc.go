// Package peers starts real IKEv2 peers — strongSwan's charon and Libreswan's pluto — inside
// network namespaces for interop tests, and reads back what they negotiated.
//
// Each instance gets its own directory (configs, keys, NSS db, sockets, logs) under the
// test's temporary directory and is stopped, by its own pid, in t.Cleanup. Nothing under
// /etc or /usr is changed: pluto's resolv.conf is bind-mounted inside its own mount
// namespace, and strongSwan runs from the tree that scripts/install-peers.sh unpacked
// (Debian's strongSwan and libreswan packages conflict, so strongSwan is not installed
// through dpkg).
//
// This kernel has no ESP. The harness gives each peer the data plane that works here:
//   - strongSwan: kernel-libipsec (userspace ESP over a TUN device, always UDP-encapsulated,
//     tunnel mode only), with policy-routing rules that keep IKE out of the TUN; or real
//     XFRM via kernel-netlink, where policies, traps and ACQUIREs work but SA installation
//     fails.
//   - Libreswan: XFRM only. IKE completes and the CHILD SA is negotiated, then the SA add
//     fails with ENOSYS; a responder then answers TS_UNACCEPTABLE. [Libreswan.ChildOutcome]
//     tells that case apart from a real refusal by reading pluto's log.
//
// Tests that use the package call [Require] first: when the peers are not installed it fails
// the test with "run make deps" (it skips only under go test -short, or without root).
//
// peers is test infrastructure: it must never be imported by non-test code, and it imports
// nothing of ours.
package peers
