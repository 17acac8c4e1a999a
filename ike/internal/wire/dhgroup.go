package wire

// DHGroup is a key exchange method (transform type 4).
type DHGroup uint16

// DH groups and key encapsulation methods we know: RFC 3526, RFC 5903,
// RFC 8031, and ML-KEM (draft-ietf-ipsecme-ikev2-mlkem; FIPS 203).
// ML-KEM-512 is named so that configuring it gets a clear refusal: Go's
// crypto/mlkem implements only ML-KEM-768 and ML-KEM-1024.
const (
	DHNone       DHGroup = 0
	DHMODP2048   DHGroup = 14
	DHMODP3072   DHGroup = 15
	DHMODP4096   DHGroup = 16
	DHECP256     DHGroup = 19
	DHECP384     DHGroup = 20
	DHECP521     DHGroup = 21
	DHCurve25519 DHGroup = 31
	DHMLKEM512   DHGroup = 35
	DHMLKEM768   DHGroup = 36
	DHMLKEM1024  DHGroup = 37
)

func (g DHGroup) String() string { return TransformIDName(TransformDH, uint16(g)) }

// Supported reports whether oemesh implements group g: ike holds its
// curve or prime for each group this package gives a KE length.
func (g DHGroup) Supported() bool { return g.PublicLen() != 0 }

// KEM reports whether g is a key encapsulation method (ML-KEM) rather
// than a Diffie-Hellman group. A KEM is asymmetric: the initiator's KE
// data is an encapsulation key, the responder's a ciphertext, and the two
// have different lengths (PublicLen and ResponseLen).
func (g DHGroup) KEM() bool { return g >= DHMLKEM512 && g <= DHMLKEM1024 }

// PublicLen is the length of the initiator's KE data for g: for a DH group
// both sides' public value (RFC 7296 §3.4: MODP values padded to the prime
// length; RFC 5903: x||y; RFC 8031: 32 octets), for ML-KEM the
// encapsulation key (FIPS 203: 1184 octets for ML-KEM-768, 1568 for
// ML-KEM-1024). It is 0 for the methods oemesh does not implement.
func (g DHGroup) PublicLen() int {
	switch g {
	case DHMLKEM768:
		return 1184
	case DHMLKEM1024:
		return 1568
	case DHCurve25519:
		return 32
	case DHECP256:
		return 64
	case DHECP384:
		return 96
	case DHECP521:
		return 132
	case DHMODP2048:
		return 256
	case DHMODP3072:
		return 384
	case DHMODP4096:
		return 512
	}
	return 0
}

// ResponseLen is the length of the responder's KE data for g: the public
// value of a DH group (PublicLen), the ciphertext of ML-KEM (FIPS 203: 1088
// octets for ML-KEM-768, 1568 for ML-KEM-1024).
func (g DHGroup) ResponseLen() int {
	switch g {
	case DHMLKEM768:
		return 1088
	case DHMLKEM1024:
		return 1568
	}
	return g.PublicLen()
}
