// Package ike is an IKEv2 (RFC 7296) implementation: message codec,
// transforms and key schedule, authentication, and the initiator and
// responder state machines.
//
// It imports nothing of oemesh. It talks to DNS, policy and the data plane
// only through the small interfaces it defines, so it must never import
// dnskey, kernel, policygroups or oe.
package ike
