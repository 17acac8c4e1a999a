// Package dispatch puts OE (oe) and the configured conns (oe/conn) in
// front of one IKE engine. Its Dispatcher is the engine's key resolver,
// responder policy and CHILD SA installer, and takes its child up/down
// events: each call goes to the conns when it concerns one of theirs, and
// to OE otherwise. Installed tunnels are told apart by SPI, through the
// tunnel table both share (oe/tunnel); requests by peer and selectors, the
// conns being asked first. Acquires are routed the same way: a conn takes
// one only when its remote subnet is at least as specific as the policy
// groups' match (the most specific wins).
//
// It decides nothing itself: every rule is OE's or a conn's. It is the
// only package that imports both oe and oe/conn.
package dispatch
