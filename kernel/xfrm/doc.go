// Package xfrm is the kernel.Dataplane that drives the Linux kernel's IPsec
// (XFRM) over netlink: trap policies whose ACQUIREs start negotiations, ESP
// SA pairs with their policies, shunts as policies with kernel lifetimes, and
// per-socket bypass for the IKE sockets.
//
// It uses github.com/vishvananda/netlink's nl package for sockets and
// requests, and encodes the XFRM messages it needs itself, because the
// library cannot decode ACQUIRE or POLEXPIRE, loses the family of IPv6
// selectors, cannot set policy lifetimes and ties large replay windows to
// ESN: without ESN it writes the window as a uint8, so 256 wraps to 0
// (anti-replay off) and the kernel clamps anything above 32 to 32.
//
// Everything it installs is recognisable as ours: policies by a priority
// band, SAs by a reqid band. Close and the start-up reconcile remove exactly
// those and nothing else.
//
// Its files are split the way kernel/userspace's are: dataplane.go (Options,
// New, Reconcile, Close and the policy helpers they share), trap.go, sa.go
// (SPIs, SA pairs with their policies, deferred outbound SAs), shunt.go and
// counters.go implement kernel.Dataplane; failclosed.go keeps traps across a
// restart; reader.go handles the kernel's events; cat.go translates a
// certificate OE client's traffic to its leased address (client address
// translation), with nftables rules that nft.go loads through nft(8). Below them, the netlink
// encoding: wire.go, attrs.go, policy.go, state.go, events.go, band.go, and
// exec.go, which runs every request and sysctl on one thread inside the
// namespace (with sysctl.go).
//
// It imports only package kernel of oemesh and must never import ike,
// dnskey, policygroups or oe.
package xfrm
