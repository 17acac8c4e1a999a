// Package dnskey finds a peer's public key and gateway in DNS: IPSECKEY
// (RFC 4025), the FreeS/WAN TXT record X-IPsec-Server and KEY records
// (RFC 4322), with a TTL-honouring cache.
//
// It imports nothing of oemesh. It must never decide policy (whether to
// encrypt); it only reports what DNS says and how trustworthy the answer is.
package dnskey
