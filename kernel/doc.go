// Package kernel defines the Dataplane interface that carries traffic: traps
// that raise acquires, SPI allocation, ESP SA pairs with their policies, and
// shunts with lifetimes. The backends live in kernel/xfrm (Linux XFRM over
// netlink) and kernel/userspace (ESP in Go over a TUN device); kernel/fake
// records calls for tests.
//
// It imports nothing of oemesh and must never import ike, dnskey,
// policygroups or oe: it knows flows and SAs, not peers' identities.
package kernel
