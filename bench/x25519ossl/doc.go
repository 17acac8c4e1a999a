// Package x25519ossl is a record, not product code: it measures whether
// the responder's X25519 (a fresh key pair and the shared secret with the
// initiator's public value, ike.RespondKeyExchange) would be cheaper
// through OpenSSL 3's libcrypto than through our Go code (ike/x25519.go),
// and finds that it would not be cheaper by enough to carry a cgo binding.
//
// OpenSSL's X25519 has no exported entry point but EVP. Its shared secret
// alone (EVP_PKEY_derive on a prepared context; MULX/ADX assembly) is the
// cheapest part anyone can reach, but every exchange also pays for
// importing the peer's value, a derive context, and our private key. A key
// made from raw private octets (EVP_PKEY_new_raw_private_key) or by
// EVP_PKEY_keygen gets its public value from a full ladder over the base
// point, dearer than our fixed-base multiplication on the Edwards curve;
// a key imported with both halves (EVP_PKEY_fromdata with the private and
// the public octets) is not recomputed, so the cheapest route is ours for
// the key pair and OpenSSL's for the shared secret, in one cgo call.
// bench/README.md ("X25519 through OpenSSL") has the figures.
//
// The files that measure are built only with the x25519ossl tag: they link
// libcrypto and need OpenSSL 3's headers (Debian's libssl-dev), which
// nothing else in the module needs. Run:
//
//	flock /tmp/oemesh-bench.lock go test -tags x25519ossl -run . -bench . -count 6 ./bench/x25519ossl/
package x25519ossl
