package config

// Crypto is the crypto.* section.
type Crypto struct {
	// RSA chooses what signs with RSA private keys: auto, go or openssl
	// (rsasign.ParseBackend reads it).
	RSA string
}
