// Package wire is the IKEv2 wire format (RFC 7296, RFC 7383): the message
// header and payload chain, every payload we understand (SA with its
// proposals and transforms, KE, IDi/IDr, CERT/CERTREQ, AUTH, Nonce,
// Notify, Delete, Vendor ID, TSi/TSr, CP), the SK and SKF framing, the
// registry numbers and IANA names that appear in them, and the non-ESP
// marker of port 4500. It plays the part for package ike that
// golang.org/x/crypto/cryptobyte and crypto/tls's handshake_messages.go
// play for crypto/tls.
//
// Files:
//
//   - message.go: Header, Message, ParseHeader/ParseMessage, the payload
//     chain encoder and decoder
//   - payloads.go: KE, ID (Identity), CERT, AUTH, Nonce, Delete, Vendor
//     ID and unknown payloads; authmethod.go: AUTH method numbers
//   - cp.go: the Configuration payload (CP, mode config), its CFG types
//     and attributes
//   - proposal.go: the SA payload, its proposals and transforms
//   - transforms.go, dhgroup.go: transform types, the names of transform
//     IDs, and DH groups with their KE data lengths
//   - notify.go, ts.go: Notify with its types; traffic selectors
//   - sk.go, fragment.go: SK framing around a Cipher, SKF fragments and
//     bounded reassembly
//   - nonesp.go: the non-ESP marker and port 4500 demultiplexing
//   - errors.go, reader.go: SyntaxError and the length-checked reader
//
// Every peer-supplied length is checked by cryptobyte before use; parse
// errors are *SyntaxError values whose text names the payload and field.
// Parsed payloads never alias the caller's buffer.
//
// It describes bytes and nothing else: it holds no keys and does no
// cryptography (a Cipher from ike seals and opens SK bodies), keeps no
// state beyond one Reassembler, and imports nothing of oemesh. Only ike
// imports it; ike re-exports the few names its own API speaks
// (ike/vocabulary.go).
package wire
