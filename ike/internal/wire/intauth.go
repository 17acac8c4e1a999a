package wire

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// sealedOctets is what RFC 9242 §3.3.2 authenticates of a message with an
// Encrypted payload: a, the octets from the IKE header to the end of the
// Encrypted payload's generic header (IntAuth_*A before its lengths are
// adjusted), and inner, the inner payloads in clear without padding
// (IntAuth_*P).
type sealedOctets struct {
	a, inner []byte
}

// unfragmentedA is IntAuth_*A of a fragmented message without unencrypted
// payloads, built as if it had not been fragmented (RFC 9242 §3.3.2 refers
// to RFC 7383: the IKE header with Next Payload SK, then the Encrypted
// payload's header, whose Next Payload is the first inner payload's type).
// The lengths are set by IntAuthOctets.
func unfragmentedA(h Header, first PayloadType) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, HeaderLen+genericHeaderLen))
	h.marshal(b, PayloadSK, 0)
	b.AddUint8(uint8(first))
	b.AddUint8(0)
	b.AddUint16(0)
	return b.BytesOrPanic() // fixed sizes: cannot fail
}

// IntAuthOctets returns IntAuth_[i|r]*A | IntAuth_[i|r]*P of an
// IKE_INTERMEDIATE message (RFC 9242 §3.3.2), over which the peers compute
// that message's IntAuth with the SK_pi or SK_pr of its sender: the IKE
// header, any unencrypted payloads and the Encrypted payload's header,
// with the header's Length and the Encrypted payload's Payload Length
// counting neither the IV, the padding, the Pad Length nor the ICV; then
// the inner payloads in clear. A fragmented message counts as the one
// message it was split from.
//
// It needs a message this package encrypted (MarshalEncrypted,
// MarshalFragments) or decrypted (Decrypt, Reassembler.Add).
func (m *Message) IntAuthOctets() ([]byte, error) {
	a, p, err := m.IntAuthParts()
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(a)+len(p)), a...), p...), nil
}

// IntAuthParts returns the two parts of IntAuthOctets apart, so that a
// caller can feed them to its PRF without joining them: a is
// IntAuth_[i|r]*A, a copy with its lengths set; p is IntAuth_[i|r]*P, the
// message's own inner payloads in clear (for an ML-KEM key exchange over
// a kilobyte), which the caller must not modify.
func (m *Message) IntAuthParts() (a, p []byte, err error) {
	if m.sealed == nil {
		return nil, nil, fmt.Errorf("ike: %v message %d: IntAuth: the message was neither encrypted nor decrypted here, or it was reassembled from fragments carrying unencrypted payloads", m.Exchange, m.MessageID)
	}
	sa, inner := m.sealed.a, m.sealed.inner
	if len(sa) < HeaderLen+genericHeaderLen {
		return nil, nil, fmt.Errorf("ike: %v message %d: IntAuth: %d octets before the IV, want at least %d", m.Exchange, m.MessageID, len(sa), HeaderLen+genericHeaderLen)
	}
	a = append([]byte(nil), sa...)
	binary.BigEndian.PutUint32(a[24:28], uint32(len(sa)+len(inner)))
	binary.BigEndian.PutUint16(a[len(sa)-2:], uint16(genericHeaderLen+len(inner)))
	return a, inner[:len(inner):len(inner)], nil
}
