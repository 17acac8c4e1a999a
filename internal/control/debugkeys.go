package control

// DebugKeys is the reply to GET /v1/debug/keys (`oemesh debug keys`): the
// keys of the live IKE SAs and ESP SAs, for decrypting a capture of this
// host's own traffic. Whoever reads them can read and forge that traffic.
// Byte strings are lower-case hex.
type DebugKeys struct {
	IKE []IKESAKeys `json:"ike"`
	ESP []ESPSAKeys `json:"esp"`
}

// IKESAKeys are the keys of one established IKE SA (RFC 7296 §2.14).
type IKESAKeys struct {
	// SPIi and SPIr are the initiator's and the responder's IKE SPIs, 16
	// hex digits each.
	SPIi string `json:"spi_i"`
	SPIr string `json:"spi_r"`
	// Encr is the encryption transform's IANA ID (e.g. 20 for AES-GCM
	// with a 16-octet ICV, 12 for AES-CBC, 28 for ChaCha20-Poly1305) and
	// EncrKeyBits its key length in bits, without an AEAD's salt.
	Encr        uint16 `json:"encr"`
	EncrKeyBits int    `json:"encr_key_bits"`
	// Integ is the integrity transform's IANA ID; 0 (NONE) with an AEAD.
	Integ uint16 `json:"integ"`
	// SKei and SKer are the encryption keys of the messages the
	// initiator and the responder send, an AEAD's with its 4-octet salt
	// at the end; SKai and SKar their integrity keys, "" with an AEAD.
	SKei string `json:"sk_ei"`
	SKer string `json:"sk_er"`
	SKai string `json:"sk_ai"`
	SKar string `json:"sk_ar"`
}

// ESPSAKeys are the keys of one ESP SA (one direction of an SA pair).
type ESPSAKeys struct {
	// Src and Dst are its outer addresses.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// SPI is its SPI, 8 hex digits.
	SPI string `json:"spi"`
	// AEAD is its cipher: "aes-gcm-16" or "chacha20-poly1305".
	AEAD string `json:"aead"`
	// Key is its key with the 4-octet salt at the end (RFC 4106 §8.1,
	// RFC 7634 §2).
	Key string `json:"key"`
}
