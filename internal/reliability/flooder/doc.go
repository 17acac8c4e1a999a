// Package flooder sends a flood of well-formed IKE_SA_INIT requests
// (RFC 7296 §1.2) from spoofed IPv4 sources, the attack an OE responder
// must survive: anyone may start a handshake, and a request costs the
// sender one datagram but the responder a DH computation and a half-open
// SA unless it demands cookies.
//
// A Flooder writes whole IPv4 packets on a raw socket (IPPROTO_RAW, which
// implies IP_HDRINCL), so that each request can come from any address of
// a prefix without the sending host owning it: the prefix is routed
// toward the flooder, and the answers come back to it. Answers, opened
// where the prefix is local to the flooder's namespace (a "local" route),
// counts and classifies them: a COOKIE demand or a full answer.
//
// It is a test and benchmark tool (internal/reliability's TestIKEFlood,
// bench/ikeflood): it must only ever be pointed at namespaces a test
// made.
package flooder
