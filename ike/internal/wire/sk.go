package wire

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Cipher protects the body of SK and SKF payloads in one direction of an
// IKE SA (RFC 7296 §3.14): the framing is here, the keys and algorithms
// are ike's (ike.SKCipher implements Cipher).
type Cipher interface {
	// SealedLen is the length of IV | ciphertext | ICV for n octets of
	// payloads.
	SealedLen(n int) int
	// Seal pads and encrypts plaintext and appends IV | ciphertext | ICV
	// to aad, the message octets before the IV with their final lengths;
	// it returns the whole message.
	Seal(aad, plaintext []byte) ([]byte, error)
	// Open checks and decrypts body (IV | ciphertext | ICV), whose
	// integrity also covers aad, and strips the padding. what names the
	// payload in errors.
	Open(what string, aad, body []byte) ([]byte, error)
}

// Encrypted is the SK payload as received: IV, ciphertext and ICV, with
// the octets its integrity check covers.
type Encrypted struct {
	NextPayload PayloadType // type of the first inner payload
	Body        []byte      // IV | ciphertext | ICV
	aad         []byte
}

func (*Encrypted) Type() PayloadType { return PayloadSK }

func (p *Encrypted) marshalBody(b *cryptobyte.Builder) { b.AddBytes(p.Body) }

func parseEncrypted(next PayloadType, body cryptobyte.String, aad []byte) (Payload, error) {
	return &Encrypted{NextPayload: next, Body: append([]byte(nil), body...), aad: aad}, nil
}

// MarshalEncrypted encodes m with all its payloads inside one SK payload
// protected by c. It sets Header.NextPayload and Header.Length.
func (m *Message) MarshalEncrypted(c Cipher) ([]byte, error) {
	inner, first, err := marshalPayloads(m.Payloads)
	if err != nil {
		return nil, err
	}
	return m.sealInner(c, inner, first)
}

// sealInner is MarshalEncrypted for payloads already encoded: inner, the
// first of which has type first.
func (m *Message) sealInner(c Cipher, inner []byte, first PayloadType) ([]byte, error) {
	total := HeaderLen + genericHeaderLen + c.SealedLen(len(inner))
	if total > MaxMessageLen {
		return nil, fmt.Errorf("ike: message length %d exceeds limit %d", total, MaxMessageLen)
	}
	// The builder holds the octets before the IV alone: Seal returns the
	// message in a buffer of its own (an AEAD's output may not overlap its
	// additional data), so room for the rest here would go unused.
	b := cryptobyte.NewBuilder(make([]byte, 0, HeaderLen+genericHeaderLen))
	m.Header.marshal(b, PayloadSK, total)
	b.AddUint8(uint8(first))
	b.AddUint8(0)
	b.AddUint16(uint16(total - HeaderLen))
	aad, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ike: marshal: %w", err)
	}
	out, err := c.Seal(aad, inner)
	if err != nil {
		return nil, err
	}
	m.NextPayload, m.Length = PayloadSK, uint32(total)
	m.sealed = &sealedOctets{a: aad[:len(aad):len(aad)], inner: inner}
	return out, nil
}

// Decrypt checks and decrypts the SK payload that ends m.Payloads and
// replaces it with the payloads it carried. Integrity failures are c's
// (ike.ErrIntegrity); the message must then be dropped silently.
func (m *Message) Decrypt(c Cipher) error {
	if len(m.Payloads) == 0 {
		return fmt.Errorf("ike: %v: no SK payload", m.Exchange)
	}
	sk, ok := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	if !ok || sk.aad == nil {
		return fmt.Errorf("ike: %v: last payload is %v, not a received SK payload", m.Exchange, m.Payloads[len(m.Payloads)-1].Type())
	}
	pt, err := c.Open("SK", sk.aad, sk.Body)
	if err != nil {
		return err
	}
	inner, err := parsePayloads(sk.NextPayload, pt, 0, true)
	if err != nil {
		return err
	}
	m.Payloads = append(m.Payloads[:len(m.Payloads)-1:len(m.Payloads)-1], inner...)
	m.sealed = &sealedOctets{a: sk.aad, inner: pt}
	return nil
}
