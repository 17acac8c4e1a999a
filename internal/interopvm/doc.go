// Package interopvm shows oemeshd doing opportunistic encryption with
// Libreswan's OE with ESP traffic actually flowing, which needs a kernel
// with ESP: the host-side test (TestLibreswanOEInVM) boots Debian's stock
// kernel with internal/vmtest and runs the TestInVM* tests inside it.
//
//   - NULL-authenticated OE (RFC 7619, Libreswan's oe-authnull.conf) with
//     Libreswan initiating and oemeshd responding, and the reverse;
//   - Libreswan's DNSSEC OE client (rightrsasigkey=%dnsondemand) taking
//     oemeshd's RSA key from a signed IPSECKEY record and verifying its
//     signature while authenticating itself with NULL.
//   - Libreswan's certificate OE client (oe-letsencrypt-client.conf)
//     verifying oemeshd's certificate from a test CA, directly and from
//     behind a NAT, where it is leased an address and translates its
//     traffic to it (CAT).
//   - oemeshd's certificate OE client against Libreswan's server
//     (oe-letsencrypt-server.conf): the certificate held to Libreswan's
//     address or to the name oemeshd's DNS stub bound to it, directly and
//     from behind a NAT, where oemeshd is leased an address and translates
//     its traffic to it (CAT on xfrm); a certificate for another name is
//     refused.
//
// TestInVMFailClosedXFRM, not interop, runs here to share the VM boot:
// two oemeshd on xfrm, one killed or stopped under a 50 ms ping to its
// private peer, and the wire checked for cleartext (docs/failclosed.md).
//
// Each case that brings a tunnel up proves traffic: pings answered both
// ways, SA byte counters moving on both ends, and a capture on the switch
// between them showing ESP and no cleartext ICMP.
//
// Only tests live here; it is imported by nothing.
package interopvm
