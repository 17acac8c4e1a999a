package wire

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// PayloadType is the IANA "IKEv2 Payload Types" registry value.
type PayloadType uint8

// Payload types (RFC 7296 §3.2, RFC 7383).
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

var payloadNames = map[PayloadType]string{
	PayloadNone: "none", PayloadSA: "SA", PayloadKE: "KE", PayloadIDi: "IDi", PayloadIDr: "IDr",
	PayloadCERT: "CERT", PayloadCERTREQ: "CERTREQ", PayloadAUTH: "AUTH", PayloadNonce: "Nonce",
	PayloadNotify: "Notify", PayloadDelete: "Delete", PayloadVendorID: "Vendor ID",
	PayloadTSi: "TSi", PayloadTSr: "TSr", PayloadSK: "SK", PayloadCP: "CP", PayloadEAP: "EAP",
	PayloadSKF: "SKF",
}

func (t PayloadType) String() string {
	if n, ok := payloadNames[t]; ok {
		return n
	}
	return fmt.Sprintf("payload type %d", uint8(t))
}

// ExchangeType is the IKEv2 exchange type.
type ExchangeType uint8

// Exchange types (RFC 7296 §3.1, RFC 9242, RFC 9370).
const (
	IKESAInit       ExchangeType = 34
	IKEAuth         ExchangeType = 35
	CreateChildSA   ExchangeType = 36
	Informational   ExchangeType = 37
	IKEIntermediate ExchangeType = 43
	// IKEFollowupKE runs one additional key exchange of a CREATE_CHILD_SA
	// (RFC 9370 §2.2.4).
	IKEFollowupKE ExchangeType = 44
)

func (e ExchangeType) String() string {
	switch e {
	case IKESAInit:
		return "IKE_SA_INIT"
	case IKEAuth:
		return "IKE_AUTH"
	case CreateChildSA:
		return "CREATE_CHILD_SA"
	case Informational:
		return "INFORMATIONAL"
	case IKEIntermediate:
		return "IKE_INTERMEDIATE"
	case IKEFollowupKE:
		return "IKE_FOLLOWUP_KE"
	}
	return fmt.Sprintf("exchange %d", uint8(e))
}

// Flags are the IKE header flags.
type Flags uint8

// Header flags (RFC 7296 §3.1).
const (
	FlagInitiator Flags = 0x08
	FlagVersion   Flags = 0x10
	FlagResponse  Flags = 0x20
)

// SPI is an IKE SA security parameter index.
type SPI [8]byte

// IsZero reports whether the SPI is all zero (a responder SPI not yet chosen).
func (s SPI) IsZero() bool { return s == SPI{} }

// HeaderLen is the length of the fixed IKE header.
const HeaderLen = 28

// MaxMessageLen bounds what we accept or build: larger claims are rejected
// before anything is allocated.
const MaxMessageLen = 64 * 1024

// Header is the fixed IKE header (RFC 7296 §3.1).
type Header struct {
	SPIi, SPIr   SPI
	NextPayload  PayloadType // set by Marshal; as parsed otherwise
	MajorVersion uint8       // 2; zero is sent as 2
	MinorVersion uint8
	Exchange     ExchangeType
	Flags        Flags
	MessageID    uint32
	Length       uint32 // set by Marshal; as parsed otherwise
}

// IsResponse reports whether the Response flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the message was sent by the original initiator.
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

func (h *Header) marshal(b *cryptobyte.Builder, next PayloadType, length int) {
	b.AddBytes(h.SPIi[:])
	b.AddBytes(h.SPIr[:])
	b.AddUint8(uint8(next))
	major := h.MajorVersion
	if major == 0 {
		major = 2
	}
	b.AddUint8(major<<4 | h.MinorVersion&0x0f)
	b.AddUint8(uint8(h.Exchange))
	b.AddUint8(uint8(h.Flags))
	b.AddUint32(h.MessageID)
	b.AddUint32(uint32(length))
}

// ParseHeader decodes the fixed header of b and checks that its length
// field matches len(b). It lets a caller route or drop a message (unknown
// SPI, wrong major version) before parsing the payloads.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	r := &reader{s: b}
	copy(h.SPIi[:], r.view(8, "initiator SPI"))
	copy(h.SPIr[:], r.view(8, "responder SPI"))
	h.NextPayload = PayloadType(r.u8("next payload"))
	v := r.u8("version")
	h.MajorVersion, h.MinorVersion = v>>4, v&0x0f
	h.Exchange = ExchangeType(r.u8("exchange type"))
	h.Flags = Flags(r.u8("flags"))
	h.MessageID = r.u32("message ID")
	h.Length = r.u32("length")
	if r.err != nil {
		return h, fmt.Errorf("ike: header: %w", r.err)
	}
	if h.MajorVersion != 2 {
		return h, &VersionError{Major: h.MajorVersion}
	}
	if h.Length != uint32(len(b)) {
		return h, fmt.Errorf("ike: header: %w", SyntaxErrorf("length %d does not match datagram length %d", h.Length, len(b)))
	}
	if h.Length > MaxMessageLen {
		return h, fmt.Errorf("ike: header: %w", SyntaxErrorf("length %d exceeds limit %d", h.Length, MaxMessageLen))
	}
	return h, nil
}

// VersionError is returned for a major version other than 2; the engine
// answers IKE_SA_INIT requests with INVALID_MAJOR_VERSION.
type VersionError struct{ Major uint8 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("ike: header: major version %d, want 2", e.Major)
}

// Message is one IKE message. For a protected message as parsed, Payloads
// ends with an *Encrypted or *EncryptedFragment payload until Decrypt (or
// a Reassembler) replaces it with the inner payloads.
type Message struct {
	Header
	Payloads []Payload

	// raw is the datagram this message was parsed from, kept because SK
	// integrity covers the exact octets received.
	raw []byte

	// sealed is what an IKE_INTERMEDIATE's IntAuth covers (RFC 9242
	// §3.3.2), kept when the message was encrypted or decrypted; see
	// IntAuthOctets.
	sealed *sealedOctets
}

// ParseMessage decodes an IKE message (without the non-ESP marker). The
// returned message aliases nothing in b. On an *UnsupportedCriticalPayloadError
// the returned message still carries a valid Header so that the engine can
// answer.
func ParseMessage(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	raw := append([]byte(nil), b...)
	m := &Message{Header: h, raw: raw}
	m.Payloads, err = parsePayloads(h.NextPayload, raw, HeaderLen, false)
	if err != nil {
		return m, err
	}
	return m, nil
}

// Marshal encodes m without protection (IKE_SA_INIT, or an SK/SKF payload
// that is already sealed). It sets Header.NextPayload and Header.Length.
func (m *Message) Marshal() ([]byte, error) {
	// The payloads are written after room for the header, which is filled
	// in once their length is known: one buffer, not a second one to copy
	// the payloads into behind the header.
	out, first, err := appendPayloads(make([]byte, HeaderLen, HeaderLen+payloadsPresize), m.Payloads)
	if err != nil {
		return nil, err
	}
	total := len(out)
	if total > MaxMessageLen {
		return nil, fmt.Errorf("ike: message length %d exceeds limit %d", total, MaxMessageLen)
	}
	b := cryptobyte.NewFixedBuilder(out[:0:HeaderLen])
	m.Header.marshal(b, first, total)
	if _, err := b.Bytes(); err != nil {
		return nil, fmt.Errorf("ike: marshal header: %w", err)
	}
	m.NextPayload, m.Length = first, uint32(total)
	return out, nil
}

// Get returns the first payload of type t, or nil.
func (m *Message) Get(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// Notify returns the first notify of type t, or nil.
func (m *Message) Notify(t NotifyType) *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// Raw returns the octets the message was parsed from (nil for built
// messages). The AUTH computation needs the exact IKE_SA_INIT octets.
func (m *Message) Raw() []byte { return m.raw }

// payload generic header: next payload, critical bit, length.
const genericHeaderLen = 4

// payloadsPresize is the capacity marshalPayloads starts with.
const payloadsPresize = 512

// marshalPayloads encodes a chain. An *Encrypted or *EncryptedFragment
// payload may only come last; its next-payload field names its first inner
// payload.
func marshalPayloads(ps []Payload) (body []byte, first PayloadType, err error) {
	if len(ps) == 0 {
		return nil, PayloadNone, nil
	}
	// Room for a typical message up front (an IKE_SA_INIT response with
	// X25519 is about 300 octets, an IKE_AUTH's inner payloads about 250),
	// so the builder does not grow from nothing in six doublings.
	return appendPayloads(make([]byte, 0, payloadsPresize), ps)
}

// maxChain is how many payloads appendPayloads tracks without allocating;
// longer chains still encode.
const maxChain = 16

// appendPayloads is marshalPayloads appending to dst. Each payload's body
// is written into the one builder behind a generic header whose length is
// filled in at the end, when every offset is known: a length-prefixed
// child builder per payload cost a builder, a closure and the growth of
// the child's buffer, for every payload of every message.
func appendPayloads(dst []byte, ps []Payload) (out []byte, first PayloadType, err error) {
	if len(ps) == 0 {
		return dst, PayloadNone, nil
	}
	var offs [maxChain]int
	starts := offs[:0]
	b := cryptobyte.NewBuilder(dst)
	at := len(dst)
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		critical := false
		switch q := p.(type) {
		case *Encrypted:
			if i+1 != len(ps) {
				return nil, 0, fmt.Errorf("ike: marshal: SK payload must be last")
			}
			next = q.NextPayload
		case *EncryptedFragment:
			if i+1 != len(ps) {
				return nil, 0, fmt.Errorf("ike: marshal: SKF payload must be last")
			}
			next = q.NextPayload
		case *UnknownPayload:
			critical = q.Critical
		}
		starts = append(starts, at)
		b.AddUint8(uint8(next))
		if critical {
			b.AddUint8(0x80)
		} else {
			b.AddUint8(0)
		}
		b.AddUint16(0) // the payload's length, filled in below
		p.marshalBody(b)
		raw, err := b.Bytes()
		if err != nil {
			return nil, 0, fmt.Errorf("ike: marshal payloads: %w", err)
		}
		at = len(raw)
	}
	raw, err := b.Bytes()
	if err != nil {
		return nil, 0, fmt.Errorf("ike: marshal payloads: %w", err)
	}
	// Payload lengths include the generic header.
	for i, off := range starts {
		end := len(raw)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		l := end - off
		if l > 0xffff {
			return nil, 0, fmt.Errorf("ike: marshal: %v payload too long (%d octets)", ps[i].Type(), l)
		}
		binary.BigEndian.PutUint16(raw[off+2:], uint16(l))
	}
	return raw, ps[0].Type(), nil
}

// parsePayloads decodes the chain that starts at msg[off:] with type
// first. msg is the whole message, so SK/SKF payloads can keep the octets
// their integrity check covers. inner is set for the plaintext of an SK
// payload, where SK and SKF may not appear.
func parsePayloads(first PayloadType, msg []byte, off int, inner bool) ([]Payload, error) {
	var out []Payload
	if first != PayloadNone {
		out = make([]Payload, 0, 8) // most messages: one allocation, not four
	}
	s := cryptobyte.String(msg[off:])
	next := first
	for i := 1; next != PayloadNone; i++ {
		t := next
		if len(out) >= maxPayloads {
			return out, fmt.Errorf("ike: %v payload: %w", t, SyntaxErrorf("more than %d payloads", maxPayloads))
		}
		start := len(msg) - len(s)
		r := &reader{s: s}
		next = PayloadType(r.u8("next payload"))
		flags := r.u8("critical flag")
		length := int(r.u16("payload length"))
		if r.err != nil {
			return out, fmt.Errorf("ike: %v payload (#%d): generic header: %w", t, i, r.err)
		}
		if length < genericHeaderLen {
			return out, fmt.Errorf("ike: %v payload (#%d): %w", t, i, SyntaxErrorf("payload length %d below generic header size 4", length))
		}
		if length-genericHeaderLen > r.left() {
			return out, fmt.Errorf("ike: %v payload (#%d): %w", t, i, SyntaxErrorf("payload length %d exceeds remaining %d", length, r.left()+genericHeaderLen))
		}
		var body cryptobyte.String
		r.s.ReadBytes((*[]byte)(&body), length-genericHeaderLen)
		s = r.s
		critical := flags&0x80 != 0
		bodyOff := start + genericHeaderLen

		var p Payload
		var err error
		switch t {
		case PayloadSK, PayloadSKF:
			if inner {
				return out, fmt.Errorf("ike: %v payload (#%d): %w", t, i, SyntaxErrorf("nested inside an encrypted payload"))
			}
			if len(s) != 0 {
				return out, fmt.Errorf("ike: %v payload (#%d): %w", t, i, SyntaxErrorf("%d octets follow; SK must be the last payload", len(s)))
			}
			if t == PayloadSK {
				p, err = parseEncrypted(next, body, msg[:bodyOff])
			} else {
				p, err = parseEncryptedFragment(next, body, msg[:bodyOff])
			}
			if err != nil {
				return out, fmt.Errorf("ike: %v payload: %w", t, err)
			}
			return append(out, p), nil
		default:
			parse, known := payloadParsers[t]
			if !known {
				if critical {
					return out, &UnsupportedCriticalPayloadError{Type: t}
				}
				out = append(out, &UnknownPayload{PayloadType: t, Body: append([]byte(nil), body...)})
				continue
			}
			p, err = parse(t, body)
			if err != nil {
				return out, fmt.Errorf("ike: %v payload: %w", t, err)
			}
		}
		out = append(out, p)
	}
	if len(s) != 0 {
		return out, fmt.Errorf("ike: %w", SyntaxErrorf("%d octets after the last payload", len(s)))
	}
	return out, nil
}

// maxPayloads bounds how many payloads one message may carry; real
// messages carry fewer than 20.
const maxPayloads = 128
