// Package ike is an IKEv2 (RFC 7296) implementation: transforms and key
// schedule, authentication, and the initiator and responder state
// machines. The message codec lives below it, in ike/internal/wire.
//
// Modelled on crypto/tls, it is laid out as:
//
//   - internal/wire: the wire format (header, payload chain, the payloads,
//     SK/SKF framing and reassembly, registry numbers and their names);
//     ike uses it as crypto/tls uses cryptobyte and handshake_messages.go
//   - vocabulary.go: the wire names ike's own API speaks (Identity,
//     TrafficSelector, Proposal, Transform, ProtocolID, DHGroup,
//     AuthMethod, SPI), re-exported as aliases
//   - transforms.go, dh.go, modp.go, mlkem.go: ENCR/PRF/INTEG/ESN
//     algorithms, the DH groups' arithmetic and ML-KEM (FIPS 203);
//     keyexchange.go: KeyExchange, the one interface through which both
//     roles run a DH group or a KEM
//   - policy.go: Policy (our preferences), offers, and Select, which
//     picks our most preferred proposal among a peer's or says why none
//     fits; a proposal with a transform type we do not understand (13
//     and above) is unacceptable as a whole (RFC 7296 §3.3.6)
//   - addke.go: RFC 9370's additional key exchanges (ADDKE1 to ADDKE7)
//     in policies, offers and Select, and the initiator's check of the
//     responder's choice
//   - exchange_intermediate.go: running them for a new IKE SA, one per
//     IKE_INTERMEDIATE exchange (RFC 9242), with the key update after
//     each (addke_keys.go) and the IntAuth chain for AUTH (intauth.go)
//   - exchange_followup.go: running them for CREATE_CHILD_SA (IKE and
//     CHILD SA rekeys, CHILD SAs), one per IKE_FOLLOWUP_KE exchange
//     (RFC 9370 §2.2.4), with the keys from all the shared secrets
//   - pq.go: PQMode (prefer, require, off), the default IKE policy with
//     or without the X25519 + ML-KEM-768 hybrid, which oemeshd's ike.pq
//     and the tools' --pq choose (DefaultIKEPolicy, the engine's own
//     default, stays classical)
//   - proposal_syntax.go: strongSwan's proposal syntax, for the tools'
//     flags and conns
//   - keys.go: prf+, SKEYSEED, SK_* keys, CHILD SA keys, rekey SKEYSEED
//   - sk.go: SKCipher, the SK protection (AEAD and CBC+HMAC) that the
//     wire framing calls through wire.Cipher
//   - auth.go: AUTH octets, PSK, NULL (RFC 7619), RSA (method 1), RFC 7427
//     digital signatures (RSA-PSS, PKCS#1 v1.5, ECDSA, Ed25519) and
//     SIGNATURE_HASH_ALGORITHMS
//   - natt.go, cookie.go: NAT detection hashes, stateless cookies with a
//     rotating secret
//   - errors.go: ErrAuthentication, ErrIntegrity
//   - logspi.go: SPIs as log values, formatted only when a line is written
//
// engine.go opens with the map of the engine's files and its lock order.
//
// Every peer-supplied length is checked by cryptobyte before use; parse
// errors are *wire.SyntaxError values whose text names the payload and
// field.
//
// Of oemesh it imports only internal/clock and its own wire package. It talks to DNS, policy and the data plane
// only through the small interfaces it defines, so it must never import
// dnskey, kernel, policygroups or oe.
package ike
