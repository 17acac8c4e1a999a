package wire

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// EncryptedFragment is the SKF payload of RFC 7383: one separately
// protected piece of an SK payload.
type EncryptedFragment struct {
	Number      uint16      // 1-based
	Total       uint16      // number of fragments of the message
	NextPayload PayloadType // first inner payload type; only in fragment 1
	Body        []byte      // IV | ciphertext | ICV
	aad         []byte
}

func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

func (p *EncryptedFragment) marshalBody(b *cryptobyte.Builder) {
	b.AddUint16(p.Number)
	b.AddUint16(p.Total)
	b.AddBytes(p.Body)
}

func parseEncryptedFragment(next PayloadType, body cryptobyte.String, aad []byte) (Payload, error) {
	r := &reader{s: body}
	p := &EncryptedFragment{NextPayload: next}
	p.Number = r.u16("fragment number")
	p.Total = r.u16("total fragments")
	if r.err != nil {
		return nil, r.err
	}
	if p.Number == 0 || p.Total == 0 || p.Number > p.Total {
		return nil, SyntaxErrorf("fragment number %d of total %d", p.Number, p.Total)
	}
	// RFC 7383 §2.5 has senders put 0 in the next-payload field of all but
	// the first fragment; receivers need not check it, and reassembly
	// only ever uses fragment 1's, so it is not checked here.
	p.Body = r.rest()
	// Fragment Number and Total Fragments are authenticated with the
	// header (RFC 7383 §2.5).
	p.aad = append(append(make([]byte, 0, len(aad)+4), aad...), body[:4]...)
	return p, nil
}

// Open checks and decrypts one received fragment.
func (p *EncryptedFragment) Open(c Cipher) ([]byte, error) {
	if p.aad == nil {
		return nil, fmt.Errorf("ike: SKF payload: not a received fragment")
	}
	pt, err := c.Open(fmt.Sprintf("SKF fragment %d/%d", p.Number, p.Total), p.aad, p.Body)
	if err != nil {
		return nil, err
	}
	return pt, nil
}

// MarshalFragments encodes m protected by c as datagrams of at most max
// octets of IKE message each (callers subtract IP, UDP and non-ESP marker
// overhead). A message that fits is returned as a single SK message;
// otherwise it is split into SKF fragments (RFC 7383 §2.5). Use it only
// when both sides sent IKEV2_FRAGMENTATION_SUPPORTED.
func (m *Message) MarshalFragments(c Cipher, max int) ([][]byte, error) {
	inner, first, err := marshalPayloads(m.Payloads)
	if err != nil {
		return nil, err
	}
	if HeaderLen+genericHeaderLen+c.SealedLen(len(inner)) <= max {
		one, err := m.sealInner(c, inner, first)
		if err != nil {
			return nil, err
		}
		return [][]byte{one}, nil
	}
	// Largest plaintext chunk whose fragment fits in max.
	fixed := HeaderLen + genericHeaderLen + 4
	chunk := max - fixed - c.SealedLen(0)
	for chunk > 0 && fixed+c.SealedLen(chunk) > max {
		chunk--
	}
	if chunk < 1 {
		return nil, fmt.Errorf("ike: fragment size %d leaves no room for data", max)
	}
	n := (len(inner) + chunk - 1) / chunk
	if n > MaxFragments {
		return nil, fmt.Errorf("ike: %d octets need %d fragments of %d, more than %d", len(inner), n, max, MaxFragments)
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		part := inner[i*chunk : min((i+1)*chunk, len(inner))]
		next := PayloadNone
		if i == 0 {
			next = first
		}
		total := fixed + c.SealedLen(len(part))
		b := cryptobyte.NewBuilder(make([]byte, 0, fixed)) // the octets before the IV, as in sealInner
		m.Header.marshal(b, PayloadSKF, total)
		b.AddUint8(uint8(next))
		b.AddUint8(0)
		b.AddUint16(uint16(total - HeaderLen))
		b.AddUint16(uint16(i + 1))
		b.AddUint16(uint16(n))
		aad, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("ike: marshal fragment %d: %w", i+1, err)
		}
		d, err := c.Seal(aad, part)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	m.NextPayload = PayloadSKF
	m.sealed = &sealedOctets{a: unfragmentedA(m.Header, first), inner: inner}
	return out, nil
}

// Reassembly limits. RFC 7383 leaves them to the implementation; these
// cover any message we accept (MaxMessageLen) in 576-octet fragments.
const (
	MaxFragments     = 128
	MaxReassembly    = MaxMessageLen
	minFragmentTotal = 1
)

// Reassembler collects the fragments of one message (one IKE SA, one
// message ID, one direction) and yields the inner payloads once all have
// arrived and been verified. It bounds the fragment count and the bytes
// it holds. The zero value is ready to use.
type Reassembler struct {
	// MaxFragments and MaxBytes override the package limits when set.
	MaxFragments int
	MaxBytes     int

	started bool
	msgID   uint32
	total   uint16
	first   PayloadType
	frags   [][]byte
	have    int
	bytes   int
}

// Other reports whether r is collecting the fragments of a message other
// than msgID; the engine then starts over for the new message.
func (r *Reassembler) Other(msgID uint32) bool { return r.started && r.msgID != msgID }

// Reset discards everything collected.
func (r *Reassembler) Reset() {
	maxF, maxB := r.MaxFragments, r.MaxBytes
	*r = Reassembler{MaxFragments: maxF, MaxBytes: maxB}
}

// Add decrypts the SKF payload that ends m with c and collects it. When
// the last missing fragment arrives it returns a message with m's header
// and the reassembled payloads; until then it returns nil. Fragments that
// fail their integrity check are rejected without disturbing the others.
func (r *Reassembler) Add(m *Message, c Cipher) (*Message, error) {
	if len(m.Payloads) == 0 {
		return nil, fmt.Errorf("ike: reassembly: message has no SKF payload")
	}
	f, ok := m.Payloads[len(m.Payloads)-1].(*EncryptedFragment)
	if !ok {
		return nil, fmt.Errorf("ike: reassembly: last payload is %v, not SKF", m.Payloads[len(m.Payloads)-1].Type())
	}
	pt, err := f.Open(c)
	if err != nil {
		return nil, err
	}
	done, err := r.AddFragment(m.MessageID, f.Number, f.Total, f.NextPayload, pt)
	if err != nil || !done {
		return nil, err
	}
	first, data := r.Assembled()
	payloads, err := parsePayloads(first, data, 0, true)
	r.Reset()
	if err != nil {
		return nil, err
	}
	out := &Message{Header: m.Header}
	out.NextPayload, out.Length = first, 0 // no single datagram carried it
	out.Payloads = append(append(out.Payloads, m.Payloads[:len(m.Payloads)-1]...), payloads...)
	if len(m.Payloads) == 1 {
		out.sealed = &sealedOctets{a: unfragmentedA(m.Header, first), inner: data}
	}
	return out, nil
}

// AddFragment collects one verified fragment. It reports true when every
// fragment of the message is present. Following RFC 7383 §2.6.1, a
// fragment announcing more fragments than collected so far restarts
// reassembly (the sender re-fragmented with a smaller size); one
// announcing fewer is ignored.
func (r *Reassembler) AddFragment(msgID uint32, number, total uint16, first PayloadType, data []byte) (bool, error) {
	maxF, maxB := r.MaxFragments, r.MaxBytes
	if maxF <= 0 {
		maxF = MaxFragments
	}
	if maxB <= 0 {
		maxB = MaxReassembly
	}
	if number == 0 || total < minFragmentTotal || number > total {
		return false, fmt.Errorf("ike: reassembly: %w", SyntaxErrorf("fragment number %d of total %d", number, total))
	}
	if int(total) > maxF {
		return false, fmt.Errorf("ike: reassembly: %w", SyntaxErrorf("total fragments %d exceeds limit %d", total, maxF))
	}
	if r.started && msgID != r.msgID {
		return false, fmt.Errorf("ike: reassembly: fragment of message ID %d while reassembling %d", msgID, r.msgID)
	}
	if r.started && total < r.total {
		return false, nil
	}
	if !r.started || total > r.total {
		maxF2, maxB2 := r.MaxFragments, r.MaxBytes
		*r = Reassembler{MaxFragments: maxF2, MaxBytes: maxB2, started: true, msgID: msgID, total: total, frags: make([][]byte, total)}
	}
	if r.frags[number-1] != nil {
		return false, nil // duplicate (retransmission)
	}
	if r.bytes+len(data) > maxB {
		r.Reset()
		return false, fmt.Errorf("ike: reassembly: %w", SyntaxErrorf("fragments exceed %d octets", maxB))
	}
	if number == 1 {
		r.first = first
	}
	r.frags[number-1] = append(make([]byte, 0, len(data)+1), data...)
	r.have++
	r.bytes += len(data)
	return r.have == int(r.total), nil
}

// Assembled returns the first inner payload type and the concatenated
// fragments once AddFragment has reported completion.
func (r *Reassembler) Assembled() (PayloadType, []byte) {
	out := make([]byte, 0, r.bytes)
	for _, f := range r.frags {
		out = append(out, f...)
	}
	return r.first, out
}
