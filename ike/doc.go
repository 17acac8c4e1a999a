// Package ike is an IKEv2 (RFC 7296) implementation: message codec,
// transforms and key schedule, authentication, and the initiator and
// responder state machines.
//
// The codec and crypto layer, modelled on crypto/tls, is laid out as:
//
//   - message.go: header, Message, payload chain encode/decode
//   - payloads.go, proposal.go, notify.go, ts.go: the payloads (SA, KE,
//     IDi/IDr, CERT/CERTREQ, AUTH, Nonce, Notify, Delete, Vendor ID,
//     TSi/TSr, CP); unknown payloads are kept and ignored unless critical;
//     proposal.go holds the SA payload with its proposals and transforms
//   - transforms.go, dh.go, modp.go: ENCR/PRF/INTEG/DH/ESN transforms
//   - policy.go: Policy (our preferences), offers, and Select, which
//     picks our most preferred proposal among a peer's or says why none
//     fits; a proposal with a transform type we do not understand (RFC
//     9370's ADDKE1, say) is unacceptable as a whole (RFC 7296 §3.3.6)
//   - proposal_syntax.go: strongSwan's proposal syntax, for the tools'
//     flags and conns
//   - keys.go: prf+, SKEYSEED, SK_* keys, CHILD SA keys, rekey SKEYSEED
//   - sk.go, fragment.go: SK protection (AEAD and CBC+HMAC) and RFC 7383
//     SKF fragmentation and bounded reassembly
//   - auth.go: AUTH octets, PSK, NULL (RFC 7619), RSA (method 1), RFC 7427
//     digital signatures (RSA-PSS, PKCS#1 v1.5, ECDSA, Ed25519) and
//     SIGNATURE_HASH_ALGORITHMS
//   - natt.go, cookie.go: NAT detection hashes, port 4500 demultiplexing,
//     stateless cookies with a rotating secret
//
// Every peer-supplied length is checked by cryptobyte before use; parse
// errors are *SyntaxError values whose text names the payload and field.
//
// It imports nothing of oemesh. It talks to DNS, policy and the data plane
// only through the small interfaces it defines, so it must never import
// dnskey, kernel, policygroups or oe.
package ike
