// Package oe is the opportunistic-encryption orchestrator: it turns an
// acquire from the data plane into a policy-group decision, a DNS key
// lookup, an IKE negotiation, and installed SAs or a shunt; as responder it
// authorises peers by their DNS keys.
//
// It is the only package that imports policygroups, dnskey, ike and kernel.
// It must never touch netlink, sockets or DNS wire formats itself: those
// belong to the packages it joins.
package oe
