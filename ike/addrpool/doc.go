// Package addrpool leases internal addresses to IKE peers that ask for one
// with a configuration payload (modecfg, RFC 7296 §2.19): a responder
// serving certificate OE or road warriors hands each client an address
// from its pool, and narrows the client's traffic selectors to it.
//
// A lease is bound to the IKE SA that asked for it (an Owner: the SA's
// SPIs) and lives as long as that SA: the engine releases it when the SA
// is deleted or dies half-way, and carries it over when the SA is
// rekeyed. That is why the pool lives under ike, beside the engine that
// owns the SAs, and not in oe: the orchestrator never sees a lease, only
// the CHILD SA narrowed to it. A released address is remembered for the
// identity that held it and given back to it when it asks again and the
// address is still free, as strongSwan's in-memory pools do; other peers
// get never-used addresses first, then the longest-released ones.
//
// The package never touches the network or the data plane; it is a
// table of addresses, safe for concurrent use.
package addrpool
