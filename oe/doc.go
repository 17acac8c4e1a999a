// Package oe is the opportunistic-encryption orchestrator: it turns an
// acquire from the data plane into a policy-group decision, a DNS key
// lookup, an IKE negotiation, and installed SAs or a shunt; as responder it
// authorises peers by their DNS keys. It owns the data plane's traps and
// failure shunts, and lends traps to the configured conns (Claim,
// Release). A target whose address a name look-up bound to a forward
// name (Config.Bindings, bound.go) is verified as @name with the keys
// published there, without a reverse look-up. A DNS stub prestarts OE
// with Prestart and waits for it with AwaitNegotiation (prestart.go); as
// responder, OE starts the look-up of a peer's key at its IKE_SA_INIT
// (prefetch.go).
//
// Configured conns are not OE's: they live in oe/conn, and a dispatcher
// (oe/dispatch) in front of the IKE engine routes each engine call and
// each acquire to OE or to the conns. The installed tunnels of both sit in
// one table (oe/tunnel); OE's idle expiry, policy reloads and
// peer-reconnect replacement act on its own tunnels only.
//
// It is, with oe/dispatch, the only package that imports policygroups,
// dnskey, ike and kernel together. It must never import oe/conn or
// oe/dispatch, and never touch netlink, sockets or DNS wire formats
// itself: those belong to the packages it joins.
package oe
