// Package dnskey finds a peer's public key and gateway in DNS: IPSECKEY
// (RFC 4025), the FreeS/WAN TXT record X-IPsec-Server and KEY records
// (RFC 4322), with a TTL-honouring cache that also remembers failed
// queries for a few seconds (RFC 9520). It also holds the host-key file
// format and the record formats `oemesh showhostkey` prints, so that what
// is published and what is read are one code.
//
// It imports nothing of oemesh. It must never decide policy (whether to
// encrypt); it only reports what DNS says and how trustworthy the answer is.
//
// # Lookups
//
// Resolver.Lookup asks IPSECKEY, TXT and KEY in parallel at the reverse name
// of an address ID or at the name of an @fqdn ID. Records that do not parse
// are skipped with a warning naming the record and the reason; the others
// still count. The caller must tell two failures apart: ErrNoKey (DNS
// answered: NXDOMAIN, NODATA, nothing usable; fall back to clear at once)
// and ErrDNSFailure (timeout, SERVFAIL; apply the failure policy).
//
// # Bindings
//
// Bindings (bindings.go) remembers, for a bounded time, that an address was
// found under a forward name and which keys that name publishes, so that an
// initiator can take the key from the name an application looked up rather
// than from the reverse zone of the address, which few people control. A
// local stub resolver or unbound's ipsecmod hook (unboundhook.go parses the
// hook's arguments) feeds it; the caller decides what to do with a binding.
// An address whose look-up is under way can be marked pending (pending.go),
// so that OE waits for its binding rather than racing the look-up.
//
// # DNSSEC (dns.require_dnssec)
//
// dnskey does not validate signatures itself. It sets DO and AD in its
// queries and trusts the AD bit of the answer, so it must be pointed at a
// validating resolver it can trust, reached over a path an attacker cannot
// touch: normally one on the same host (unbound on 127.0.0.1).
//
// Why the setting exists: a key from DNS is what authenticates the peer. An
// unsigned answer can be forged by anyone on the path to the resolver, or
// by anyone who can poison its cache. Such an active attacker answers with
// his own key and so sits in the middle of an "encrypted" connection; he
// also can answer NXDOMAIN and so force clear text. With
// Config.AcceptInsecure false (dns.require_dnssec: true, the default) only
// records from answers with AD are used: an unsigned zone gives ErrInsecure
// (an ErrNoKey) and a tampered signed zone gives SERVFAIL (ErrDNSFailure).
//
// When it is safe to turn off: opportunistic encryption's first aim is the
// passive attacker, who records traffic but does not change it. Against him
// any key is good enough, signed or not: he cannot forge, so the key from
// DNS is the peer's. Turning the setting off (AcceptInsecure true) gives
// encryption with peers whose zones are unsigned, at the cost of no
// protection against active attackers on the DNS path. It is reasonable in
// a closed network whose DNS path is trusted (a lab, a mesh whose resolver
// and authoritative server sit inside it), or where the alternative is
// clear text anyway; keys from insecure answers are then marked
// Secure=false so that logs and `oemesh dns lookup` say so. It is not safe
// when the peer's identity matters, e.g. with the "private" group, where
// clear text is refused precisely because an active attacker is expected.
// docs/dnssec.md says the same for operators.
package dnskey
