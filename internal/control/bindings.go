package control

// BindRequest is the body of POST /v1/dns/bindings (`oemesh dns hook`):
// what a name look-up found, for oemeshd to bind each address to the
// name. oemeshd refuses the whole request (400, with the reason) when the
// name, an address or the TTL is malformed or no record is usable.
type BindRequest struct {
	// Name is the forward name looked up, e.g. "b.example.".
	Name string `json:"name"`
	// TTLSeconds is the answer's TTL in seconds; oemeshd clamps it to
	// dns.bindings.min_ttl and max_ttl.
	TTLSeconds uint32 `json:"ttl_seconds"`
	// Addrs are every address of the A/AAAA answer.
	Addrs []string `json:"addrs"`
	// IPSECKEYs are the IPSECKEY records at Name, each its rdata in
	// presentation form, e.g. "10 0 4 . base64key" (precedence, gateway
	// type, algorithm, gateway, key).
	IPSECKEYs []string `json:"ipseckeys"`
}

// BindReply is the reply to POST /v1/dns/bindings.
type BindReply struct {
	// Bindings are the bindings made, one per address.
	Bindings []Binding `json:"bindings"`
	// Skipped are the records of the request that were not used.
	Skipped []SkippedRecord `json:"skipped,omitempty"`
}

// SkippedRecord is a record that was not used, and why.
type SkippedRecord struct {
	// Record is the record as it was given.
	Record string `json:"record"`
	// Reason says why, in prose.
	Reason string `json:"reason"`
}

// Binding is an address bound to the forward name it was looked up by:
// OE to Addr uses Keys and expects the peer to prove "@" + Name.
type Binding struct {
	// Addr is the IP address.
	Addr string `json:"addr"`
	// Name is the forward name, fully qualified, in lower case.
	Name string `json:"name"`
	// Secure is true when every key was DNSSEC-validated.
	Secure bool `json:"secure"`
	// ExpiresInSeconds is how long the binding lasts, in whole seconds
	// (truncated).
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
	// Keys are the records at Name, lowest precedence first.
	Keys []PeerKey `json:"keys"`
}

// BindingList is the reply to GET /v1/dns/bindings (`oemesh dns
// bindings`): the live bindings, by name and then address, and the
// store's counters.
type BindingList struct {
	Bindings []Binding       `json:"bindings"`
	Counters BindingCounters `json:"counters"`
}

// BindingCounters are the binding store's counters since oemeshd
// started.
type BindingCounters struct {
	// Entries is the number of addresses held now.
	Entries int `json:"entries"`
	// Max is dns.bindings.max.
	Max int `json:"max"`
	// Added counts addresses bound that had no live binding.
	Added uint64 `json:"added"`
	// Replaced counts addresses bound again while bound (last wins).
	Replaced uint64 `json:"replaced"`
	// Expired counts bindings dropped at the end of their TTL.
	Expired uint64 `json:"expired"`
	// Evicted counts bindings forgotten to stay within Max.
	Evicted uint64 `json:"evicted"`
	// Hits and Misses count OE negotiations that found a binding for
	// their target, and those that did not.
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
}
