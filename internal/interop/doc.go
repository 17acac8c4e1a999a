// Package interop holds the IKE interoperability tests: `oemesh probe` and
// `oemesh respond`, built from this tree, against real strongSwan (charon,
// kernel-libipsec data plane) and Libreswan (pluto) peers, each side in its
// own network namespace. The peers come from internal/peers; the
// namespaces from internal/netnstest; everything a test starts is stopped,
// by its pid, and every namespace removed in t.Cleanup.
//
// The tests need root and the peers that `make deps` installs
// (scripts/install-peers.sh); CI has both. On this kernel (no ESP)
// Libreswan negotiates CHILD SAs but cannot install them: as responder it
// then answers TS_UNACCEPTABLE, as initiator it deletes its IKE SA. The
// tests accept exactly that, and only when pluto's own log shows the
// kernel's ENOSYS (peers.ChildKernelNoESP).
//
// The package has test files only; nothing imports it.
package interop
