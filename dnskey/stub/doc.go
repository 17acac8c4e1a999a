// Package stub is the DNS stub resolver inside oemeshd (dns.stub.listen):
// it forwards every query, unchanged, to the upstream resolvers, and reads
// the A and AAAA answers on their way back to the application. For a name
// whose addresses fall in an opportunistic-encryption group it looks up
// the keys published at that forward name (IPSECKEY, and the FreeS/WAN TXT
// and KEY records dnskey reads at an @fqdn), records them as a binding,
// and asks the daemon to start IKE to those addresses (dns.prestart), so
// that the tunnel is up, or half-way, when the application's first packet
// leaves.
//
// Files: stub.go (Config, Stub, serving), forward.go (the upstream
// exchange), answer.go (reading an answer: names, addresses, TTL),
// early.go (the key look-up started with the query, dns.stub.early_lookup),
// background.go (the bounded look-ups, bindings and prestarts), hold.go
// (holding an answer for its negotiations, dns.stub.hold), stats.go
// (counters).
//
// What it must never do:
//   - change an answer, or delay it unless told to: the answer is the
//     upstream's message (same ID, flags, rcode, records, EDNS0 options
//     and DO bit), written as soon as it arrives (only the marks that make
//     OE wait for the look-up, Binder.Pend, are made before it; a look-up
//     started with the query runs beside the upstream exchange and is never
//     waited for). Only Config.Hold, which an operator sets, holds an
//     answer, and never longer than its bound;
//   - answer from a cache, or make one up: when no upstream answers, the
//     application gets SERVFAIL and nothing is remembered or started;
//   - decide policy: which addresses are OE's comes from the daemon
//     (Config.InOE), whether a key is trustworthy from dnskey
//     (dns.require_dnssec), and what a prestart does from the daemon
//     (Config.Prestart).
//
// It imports dnskey and nothing else of oemesh but internal/clock.
package stub
