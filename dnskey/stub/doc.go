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
// background.go (the bounded look-ups, bindings and prestarts), stats.go
// (counters).
//
// What it must never do:
//   - delay or change an answer: the answer is written to the application
//     before any look-up of ours starts (only the marks that make OE wait
//     for the look-up, Binder.Pend, are made before it), and is the
//     upstream's message (same ID, flags, rcode, records, EDNS0 options
//     and DO bit);
//   - answer from a cache, or make one up: when no upstream answers, the
//     application gets SERVFAIL and nothing is remembered or started;
//   - decide policy: which addresses are OE's comes from the daemon
//     (Config.InOE), whether a key is trustworthy from dnskey
//     (dns.require_dnssec), and what a prestart does from the daemon
//     (Config.Prestart).
//
// It imports dnskey and nothing else of oemesh but internal/clock.
package stub
