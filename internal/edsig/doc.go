// Package edsig makes and checks Ed25519 signatures (RFC 8032) through
// github.com/oasisprotocol/curve25519-voi, for the IKE AUTH payloads an
// Ed25519 host key signs and its peers' keys verify.
//
// The signatures are the bytes crypto/ed25519 makes (Ed25519 is
// deterministic), and Verify accepts exactly what crypto/ed25519.Verify
// accepts: cofactorless verification, small-order and non-canonical
// public keys let through as the standard library does, S below the
// group order (voi's VerifyOptionsStdLib). What changes is the cost:
// voi's fixed-base table and its AVX2 multi-scalar multiplication sign
// in about a third and verify in about two thirds of crypto/ed25519's
// time on this project's test machine (BenchmarkSign, BenchmarkVerify).
// The tests hold both packages to the same answers, and FuzzVerify
// keeps doing so on whatever the fuzzer finds.
package edsig
