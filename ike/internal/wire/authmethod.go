package wire

import "fmt"

// AuthMethod is the Auth Method of an AUTH payload.
type AuthMethod uint8

// Authentication methods (RFC 7296 §3.8, RFC 7427, RFC 7619).
const (
	AuthRSASignature     AuthMethod = 1
	AuthSharedKey        AuthMethod = 2
	AuthDSSSignature     AuthMethod = 3
	AuthECDSASHA256P256  AuthMethod = 9
	AuthECDSASHA384P384  AuthMethod = 10
	AuthECDSASHA512P521  AuthMethod = 11
	AuthNull             AuthMethod = 13
	AuthDigitalSignature AuthMethod = 14
)

func (m AuthMethod) String() string {
	switch m {
	case AuthRSASignature:
		return "RSA_DIGITAL_SIGNATURE"
	case AuthSharedKey:
		return "SHARED_KEY_MIC"
	case AuthDSSSignature:
		return "DSS_DIGITAL_SIGNATURE"
	case AuthECDSASHA256P256:
		return "ECDSA_SHA256_P256"
	case AuthECDSASHA384P384:
		return "ECDSA_SHA384_P384"
	case AuthECDSASHA512P521:
		return "ECDSA_SHA512_P521"
	case AuthNull:
		return "NULL_AUTH"
	case AuthDigitalSignature:
		return "DIGITAL_SIGNATURE"
	}
	return fmt.Sprintf("auth method %d", uint8(m))
}
