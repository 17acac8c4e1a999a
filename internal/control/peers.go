package control

// PeerEntry is one cached DNS answer: an element of the reply to
// GET /v1/peers (`oemesh peers`), ordered by name, then type.
type PeerEntry struct {
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
