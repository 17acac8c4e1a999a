// Package conn runs the configured connections (a FreeS/WAN `conn`):
// fixed tunnels to known peers or road warriors, beside OE. It owns their
// table, traps (borrowed from OE through Traps), retries (keying_tries),
// updown scripts, lifetimes, DPD actions and unique_ids, and installs
// their CHILD SAs in the tunnel table it shares with OE (oe/tunnel).
//
// A dispatcher in front of the IKE engine (oe/dispatch) hands it what is a
// conn's: acquires whose destination a routed conn holds more specifically
// than the policy groups, engine calls about its peers and selectors, and
// its tunnels' up and down events.
//
// Files: conn.go (the Conn definition), conns.go (the Conns type, its
// state and counters), lifecycle.go (add, remove, route, up, down),
// acquire.go (most specific wins), negotiate.go (attempts and retries),
// tunnels.go (install, unique_ids, child up/down), responder.go (what a
// conn's peer may do), updown.go, lifetime.go, status.go.
//
// It must never import oe or oe/dispatch: what it needs of OE is the
// Traps interface.
package conn
