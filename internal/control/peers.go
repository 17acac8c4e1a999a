package control

import "time"

// Peer is one peer this host has an established IKE SA with: an element
// of the reply to GET /v1/peers (`oemesh peers`), ordered by Addr.
type Peer struct {
	// Addr is the peer's outer IP address (after NAT: the address its
	// packets come from).
	Addr string `json:"addr"`
	// ID is the identity the peer proved, written as
	// TunnelStatus.PeerID; "" when it is anonymous (Auth is "null").
	ID string `json:"id"`
	// Auth is how the peer authenticated, on its newest IKE SA.
	Auth Auth `json:"auth"`
	// KeyExchanges are those of its newest IKE SA, written as
	// TunnelStatus.KeyExchanges; QuantumResistant as there.
	KeyExchanges     string `json:"key_exchanges"`
	QuantumResistant bool   `json:"quantum_resistant"`
	// IKESAs counts its established IKE SAs (more than one while one
	// replaces another, or with several conns).
	IKESAs int `json:"ike_sas"`
	// Tunnels counts the installed SA pairs under those IKE SAs.
	Tunnels int `json:"tunnels"`
	// InBytes and OutBytes count the ESP payload bytes through those
	// pairs.
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	// LastHandshake is when its newest IKE SA was established (an IKE SA
	// rekey counts as a handshake).
	LastHandshake time.Time `json:"last_handshake"`
	// IdleSeconds is the time since a packet last used any of its
	// tunnels, in whole seconds (rounded); null when it has none.
	IdleSeconds *int64 `json:"idle_seconds"`
	// PeerCert is the certificate the peer authenticated with on its
	// newest IKE SA (Auth is "cert"); absent otherwise.
	PeerCert *PeerCertificate `json:"peer_cert,omitempty"`
	// VirtualIPs are the mode config addresses of its newest IKE SA: the
	// ones the peer assigned to this host when Initiator, else the ones
	// this host leased to the peer. Absent when none were.
	VirtualIPs []string `json:"virtual_ips,omitempty"`
	// Initiator is true when this host set up the newest IKE SA.
	Initiator bool `json:"initiator"`
}

// DNSCacheEntry is one cached DNS answer: an element of the reply to
// GET /v1/dns/cache (`oemesh dns cache`), ordered by name, then type.
type DNSCacheEntry struct {
	// Name is the owner name queried (e.g. "2.0.18.198.in-addr.arpa.").
	Name string `json:"name"`
	// Type is the record type queried.
	Type RecordType `json:"type"`
	// Answer is what the answer held.
	Answer Answer `json:"answer"`
	// Secure is true when the answer had the AD bit (DNSSEC-validated).
	Secure bool `json:"secure"`
	// ExpiresInSeconds is how long the entry stays cached, in whole
	// seconds (truncated).
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
	// Keys are the usable records of the answer, lowest precedence first.
	Keys []PeerKey `json:"keys,omitempty"`
}

// PeerKey is one usable DNS record: a public key and/or a gateway for a
// peer.
type PeerKey struct {
	// Name is the owner name the record was found at.
	Name string `json:"name"`
	// Source is the record's type.
	Source RecordType `json:"source"`
	// Precedence orders records, lower first (RFC 4025 §2.2); null for a
	// KEY record, which has none and sorts last.
	Precedence *int `json:"precedence"`
	// Gateway is where to send IKE: an IP address, "@FQDN" (to be looked
	// up), or "" for the peer itself.
	Gateway string `json:"gateway"`
	// Algorithm is the key's algorithm.
	Algorithm KeyAlgorithm `json:"algorithm"`
	// Fingerprint is "SHA256:" and the unpadded base64 of the SHA-256 of
	// the key's DER SubjectPublicKeyInfo; "" when the record has no key.
	Fingerprint string `json:"fingerprint"`
	// TTLSeconds is what is left of the record's lifetime, in whole
	// seconds.
	TTLSeconds int64 `json:"ttl_seconds"`
	// Secure is the AD bit of the answer the record came in.
	Secure bool `json:"secure"`
	// Record is the record in presentation format, for people.
	Record string `json:"record"`
}
