// Package interop holds the IKE interoperability tests: `oemesh probe` and
// `oemesh respond`, built from this tree, against real strongSwan (charon,
// kernel-libipsec data plane) and Libreswan (pluto) peers, each side in its
// own network namespace. The peers come from internal/peers; the
// namespaces from internal/netnstest; everything a test starts is stopped,
// by its pid, and every namespace removed in t.Cleanup.
//
//   - strongswan_test.go: probe → charon and charon → respond with PSK,
//     Ed25519 and RSA raw keys and four proposals; IKE fragmentation with a
//     forced small threshold both ways; the probe's exit status on failures.
//   - libreswan_test.go: NULL-auth opportunistic encryption both ways (the
//     Libreswan side triggered by whack and by a real trapped packet), a
//     Libreswan RSA initiator to respond, probe to pluto signing with
//     RSASSA-PSS.
//   - negotiation_test.go: INVALID_KE both ways, COOKIE, IPv6.
//   - lifecycle_test.go: DPD, CHILD SA and IKE SA rekeys in both roles.
//   - nat_test.go: NAT traversal through a port-remapping source NAT.
//   - bypass_test.go: IKE through ESP-only IPsec policies (socket bypass).
//   - pq_test.go: strongSwan 6.1 (ML-KEM, RFC 9370; from the Debian sid
//     chroot): probe → charon and charon → respond with a classical
//     proposal; a required hybrid proposal (ke1_mlkem768) refused with
//     NO_PROPOSAL_CHOSEN (we accept only NONE for ADDKE1 until
//     IKE_INTERMEDIATE exists); an optional one (ke1_mlkem768-ke1_none, one
//     proposal with ADDKE1 = ML-KEM-768 or NONE) comes up classically both
//     ways, NONE chosen; a hybrid proposal followed by a classical one comes
//     up classically; charon requiring ke1_mlkem768 answers the probe
//     NO_PROPOSAL_CHOSEN, also to a hybrid or optional offer (we send no
//     INTERMEDIATE_EXCHANGE_SUPPORTED). The baseline the IKE_INTERMEDIATE
//     work turns hybrid.
//   - pq_followup_test.go: rekeys with RFC 9370's IKE_FOLLOWUP_KE and
//     strongSwan 6.1, both ways (x25519-ke1_mlkem768 for the IKE SA and
//     for the CHILD SA's PFS), and the fallback against a classical charon.
//
// The tests need root and the peers that `make deps` installs
// (scripts/install-peers.sh, including the sid chroot for strongSwan 6.1);
// CI has both. On this kernel (no ESP)
// Libreswan negotiates CHILD SAs but cannot install them: as responder it
// then answers TS_UNACCEPTABLE, as initiator it deletes its IKE SA. The
// tests accept exactly that, and only when pluto's own log shows the
// kernel's ENOSYS (peers.ChildKernelNoESP).
//
// The package has test files only; nothing imports it.
package interop
