package wire

import "fmt"

// TransformType is the type of a transform in an SA proposal.
type TransformType uint8

// Transform types (RFC 7296 §3.3.2).
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

// The additional key exchanges of RFC 9370 §2.2.1, ADDKE1 to ADDKE7: each
// carries a key exchange method of the same registry as TransformDH, run
// in its own IKE_INTERMEDIATE exchange after IKE_SA_INIT; the ID NONE (0)
// offers that exchange as optional.
const (
	TransformADDKE1 TransformType = 6
	TransformADDKE7 TransformType = 12
)

// AddKE returns n when t is ADDKEn (1 to 7), else 0.
func (t TransformType) AddKE() int {
	if t >= TransformADDKE1 && t <= TransformADDKE7 {
		return int(t-TransformADDKE1) + 1
	}
	return 0
}

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	if n := t.AddKE(); n != 0 {
		return fmt.Sprintf("ADDKE%d", n)
	}
	return fmt.Sprintf("transform type %d", uint8(t))
}

// AttrKeyLength is the Key Length transform attribute (RFC 7296 §3.3.5).
const AttrKeyLength = 14

// TransformIDName returns the IANA name of transform ID id of type t
// (ENCR, PRF, INTEG, DH or ESN), or a name built from the number for IDs
// this package does not list. The algorithm types in ike use it for their
// String methods, so a transform prints the same wherever it appears.
func TransformIDName(t TransformType, id uint16) string {
	if n, ok := transformIDNames[t][id]; ok {
		return n
	}
	switch t {
	case TransformENCR:
		return fmt.Sprintf("ENCR_%d", id)
	case TransformPRF:
		return fmt.Sprintf("PRF_%d", id)
	case TransformINTEG:
		return fmt.Sprintf("AUTH_%d", id)
	case TransformDH:
		return fmt.Sprintf("DH_%d", id)
	case TransformESN:
		return fmt.Sprintf("ESN_%d", id)
	}
	return fmt.Sprintf("%v/%d", t, id)
}

// EncrName names an ENCR transform together with its Key Length
// attribute in bits (0 when absent), e.g. AES_GCM_16_256.
func EncrName(id uint16, keyBits int) string {
	n := TransformIDName(TransformENCR, id)
	if keyBits == 0 {
		return n
	}
	return fmt.Sprintf("%s_%d", n, keyBits)
}

// transformIDNames holds the IANA names of the transform IDs oemesh
// implements (RFC 7296 §3.3.2, RFC 5282, RFC 7634, RFC 3526, RFC 5903,
// RFC 8031, draft-ietf-ipsecme-ikev2-mlkem), and ML-KEM-512, which it
// refuses by name.
var transformIDNames = map[TransformType]map[uint16]string{
	TransformENCR: {12: "AES_CBC", 20: "AES_GCM_16", 28: "CHACHA20_POLY1305"},
	TransformPRF: {2: "PRF_HMAC_SHA1", 5: "PRF_HMAC_SHA2_256", 6: "PRF_HMAC_SHA2_384",
		7: "PRF_HMAC_SHA2_512"},
	TransformINTEG: {0: "NONE", 12: "AUTH_HMAC_SHA2_256_128", 13: "AUTH_HMAC_SHA2_384_192",
		14: "AUTH_HMAC_SHA2_512_256"},
	TransformDH: {0: "NONE", 14: "MODP_2048", 15: "MODP_3072", 16: "MODP_4096", 19: "ECP_256",
		20: "ECP_384", 21: "ECP_521", 31: "CURVE25519", 35: "ML_KEM_512", 36: "ML_KEM_768",
		37: "ML_KEM_1024"},
	TransformESN: {0: "NO_ESN", 1: "ESN"},
}
