// Package rsasign gives RSA private keys a crypto.Signer that signs
// through OpenSSL's libcrypto when it can be loaded, and through
// crypto/rsa otherwise.
//
// Why: an OE responder signs one AUTH payload per handshake, and OE hosts
// commonly publish RSA keys in IPSECKEY (Libreswan's default). crypto/rsa's
// constant-time RSA-2048 signature costs about four times OpenSSL's on the
// same core (1.0 ms against 0.25 ms on the 2-core box of bench/README.md),
// which makes it most of an RSA handshake's CPU.
//
// The binding is github.com/golang-fips/openssl/v2: it needs cgo to build
// and dlopens libcrypto at run time, so no OpenSSL headers are needed and
// a host without libcrypto still runs. Built without cgo, the package
// compiles to crypto/rsa alone.
//
// It must never change what a signature is. PKCS#1 v1.5 signatures are
// the bytes crypto/rsa would give (they are deterministic); PSS signatures
// use the salt length crypto/rsa would use for the same *rsa.PSSOptions.
// Whatever OpenSSL cannot sign exactly as crypto/rsa would (a caller's own
// random source, an unhashed PKCS#1 v1.5 digest, a hash OpenSSL lacks, a
// multi-prime key) is signed by crypto/rsa. A key OpenSSL does not accept,
// or whose self-test signature crypto/rsa does not verify, signs with
// crypto/rsa too, after one log line saying why.
package rsasign
