package rsasign

import "fmt"

//go:generate go tool stringer -type=Backend -linecomment

// Backend chooses what signs with RSA private keys (the crypto.rsa key of
// oemeshd's configuration).
type Backend int

const (
	// Auto signs with OpenSSL when libcrypto loads, else with crypto/rsa.
	Auto Backend = iota // auto
	// Go always signs with crypto/rsa.
	Go // go
	// OpenSSL signs with OpenSSL, and New fails when libcrypto does not
	// load.
	OpenSSL // openssl
)

// ParseBackend reads a Backend by its name: auto, go or openssl.
func ParseBackend(s string) (Backend, error) {
	for _, b := range []Backend{Auto, Go, OpenSSL} {
		if s == b.String() {
			return b, nil
		}
	}
	return 0, fmt.Errorf("rsasign: RSA signing backend %q: must be auto, go or openssl", s)
}
