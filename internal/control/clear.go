package control

// ShuntsClearRequest is the body of POST /v1/shunts/clear
// (`oemesh shunts clear`). Exactly one of Addr and All is set.
type ShuntsClearRequest struct {
	// Addr clears the shunts toward this IP address.
	Addr string `json:"addr,omitempty"`
	// All clears every shunt.
	All bool `json:"all,omitempty"`
}

// ShuntsClearReply answers POST /v1/shunts/clear.
type ShuntsClearReply struct {
	// Cleared are the shunts removed. The flows' traps are back: their
	// next packet negotiates again. A shunt of a negotiation under way
	// is not cleared.
	Cleared []ShuntStatus `json:"cleared"`
}

// DNSFlushRequest is the body of POST /v1/dns/flush (`oemesh dns
// flush`). Exactly one of ID and All is set.
type DNSFlushRequest struct {
	// ID flushes what the resolver holds for one ID: an IP address (its
	// reverse name) or "@FQDN".
	ID string `json:"id,omitempty"`
	// All flushes the whole cache.
	All bool `json:"all,omitempty"`
}

// DNSFlushReply answers POST /v1/dns/flush.
type DNSFlushReply struct {
	// Name is the DNS name flushed; "" with All.
	Name string `json:"name,omitempty"`
	// Flushed counts the (name, type) entries dropped: cached answers,
	// negative ones included, and remembered failures.
	Flushed int `json:"flushed"`
}
