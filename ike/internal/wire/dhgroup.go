package wire

// DHGroup is a key exchange method (transform type 4).
type DHGroup uint16

// DH groups we implement (RFC 3526, RFC 5903, RFC 8031).
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

// PublicLen is the length of the KE data for g (RFC 7296 §3.4: MODP values
// padded to the prime length; RFC 5903: x||y; RFC 8031: 32 octets).
func (g DHGroup) PublicLen() int {
	switch g {
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
