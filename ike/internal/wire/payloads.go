package wire

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// Payload is one IKEv2 payload. The generic payload header (next payload,
// critical bit, length) is written and read by the message codec; each
// payload type encodes only its body.
type Payload interface {
	Type() PayloadType
	marshalBody(b *cryptobyte.Builder)
}

type payloadParser func(t PayloadType, body cryptobyte.String) (Payload, error)

// payloadParsers lists every payload type we understand inside or outside
// SK; SK and SKF are handled by the chain parser itself.
var payloadParsers = map[PayloadType]payloadParser{
	PayloadSA:       parseSA,
	PayloadKE:       parseKE,
	PayloadIDi:      parseID,
	PayloadIDr:      parseID,
	PayloadCERT:     parseCert,
	PayloadCERTREQ:  parseCert,
	PayloadAUTH:     parseAuth,
	PayloadNonce:    parseNonce,
	PayloadNotify:   parseNotify,
	PayloadDelete:   parseDelete,
	PayloadVendorID: parseVendorID,
	PayloadTSi:      parseTS,
	PayloadTSr:      parseTS,
	PayloadCP:       parseCP,
}

// KE is the Key Exchange payload.
type KE struct {
	Group DHGroup
	Data  []byte
}

func (*KE) Type() PayloadType { return PayloadKE }

func (p *KE) marshalBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(p.Group))
	b.AddUint16(0)
	b.AddBytes(p.Data)
}

func parseKE(_ PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &KE{Group: DHGroup(r.u16("DH group"))}
	r.u16("reserved")
	p.Data = r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if len(p.Data) == 0 {
		return nil, SyntaxErrorf("key exchange data is empty")
	}
	return p, nil
}

// IDType is the identification type of an ID payload.
type IDType uint8

// ID types (RFC 7296 §3.5, RFC 7619).
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDerASN1DN  IDType = 9
	IDDerASN1GN  IDType = 10
	IDKeyID      IDType = 11
	IDNull       IDType = 13
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDerASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDerASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	case IDNull:
		return "ID_NULL"
	}
	return fmt.Sprintf("ID type %d", uint8(t))
}

// Identity is an IKE identity: its type and its data as on the wire.
type Identity struct {
	Type IDType
	Data []byte
}

// AddrIdentity returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func AddrIdentity(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		return Identity{Type: IDIPv4Addr, Data: a.AsSlice()}
	}
	return Identity{Type: IDIPv6Addr, Data: a.AsSlice()}
}

// FQDNIdentity returns an ID_FQDN identity.
func FQDNIdentity(name string) Identity { return Identity{Type: IDFQDN, Data: []byte(name)} }

// NullIdentity returns the ID_NULL identity of RFC 7619.
func NullIdentity() Identity { return Identity{Type: IDNull} }

// Addr returns the address of an IP identity.
func (id Identity) Addr() (netip.Addr, bool) {
	switch {
	case id.Type == IDIPv4Addr && len(id.Data) == 4, id.Type == IDIPv6Addr && len(id.Data) == 16:
		a, _ := netip.AddrFromSlice(id.Data)
		return a, true
	}
	return netip.Addr{}, false
}

func (id Identity) String() string {
	if a, ok := id.Addr(); ok {
		return a.String()
	}
	switch id.Type {
	case IDFQDN, IDRFC822Addr:
		return fmt.Sprintf("%s:%q", id.Type, id.Data)
	case IDNull:
		return "ID_NULL"
	case IDDerASN1DN:
		if dn, ok := dnString(id.Data); ok {
			return fmt.Sprintf("%s:%q", id.Type, dn)
		}
	}
	return fmt.Sprintf("%s:%x", id.Type, id.Data)
}

// validate checks the data length the type requires.
func (id Identity) validate() error {
	switch id.Type {
	case IDIPv4Addr:
		if len(id.Data) != 4 {
			return SyntaxErrorf("identification data: %d octets for ID_IPV4_ADDR, want 4", len(id.Data))
		}
	case IDIPv6Addr:
		if len(id.Data) != 16 {
			return SyntaxErrorf("identification data: %d octets for ID_IPV6_ADDR, want 16", len(id.Data))
		}
	case IDNull:
		if len(id.Data) != 0 {
			return SyntaxErrorf("identification data: %d octets for ID_NULL, want 0", len(id.Data))
		}
	default:
		if len(id.Data) == 0 {
			return SyntaxErrorf("identification data: empty %v", id.Type)
		}
	}
	return nil
}

// IDPayload is IDi or IDr.
type IDPayload struct {
	Responder bool // IDr rather than IDi
	Identity
}

func (p *IDPayload) Type() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

func (p *IDPayload) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Identity.Type))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

// RestOfIDPayload is the ID payload body without the generic header: what
// the AUTH computation MACs (RFC 7296 §2.15).
func (id Identity) RestOfIDPayload() []byte {
	out := make([]byte, 4, 4+len(id.Data))
	out[0] = byte(id.Type)
	return append(out, id.Data...)
}

// ParseIdentity decodes an ID payload body (as in RestOfIDPayload).
func ParseIdentity(body []byte) (Identity, error) {
	r := &reader{s: body}
	id := Identity{Type: IDType(r.u8("ID type"))}
	r.skip(3, "reserved")
	id.Data = r.rest()
	if r.err != nil {
		return Identity{}, r.err
	}
	if err := id.validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func parseID(t PayloadType, body cryptobyte.String) (Payload, error) {
	id, err := ParseIdentity(body)
	if err != nil {
		return nil, err
	}
	return &IDPayload{Responder: t == PayloadIDr, Identity: id}, nil
}

// Auth is the AUTH payload.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

func (*Auth) Type() PayloadType { return PayloadAUTH }

func (p *Auth) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Method))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

func parseAuth(_ PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &Auth{Method: AuthMethod(r.u8("auth method"))}
	r.skip(3, "reserved")
	p.Data = r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if len(p.Data) == 0 {
		return nil, SyntaxErrorf("authentication data is empty")
	}
	return p, nil
}

// Nonce is Ni or Nr.
type Nonce struct {
	Data []byte
}

func (*Nonce) Type() PayloadType { return PayloadNonce }

func (p *Nonce) marshalBody(b *cryptobyte.Builder) { b.AddBytes(p.Data) }

// Nonce size limits (RFC 7296 §3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

func parseNonce(_ PayloadType, body cryptobyte.String) (Payload, error) {
	if len(body) < MinNonceLen || len(body) > MaxNonceLen {
		return nil, SyntaxErrorf("nonce length %d outside %d..%d", len(body), MinNonceLen, MaxNonceLen)
	}
	return &Nonce{Data: append([]byte(nil), body...)}, nil
}

// Delete is the Delete payload.
type Delete struct {
	Protocol ProtocolID
	SPIs     [][]byte // none for IKE; 4-octet SPIs for ESP and AH
}

func (*Delete) Type() PayloadType { return PayloadDelete }

func (p *Delete) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Protocol))
	size := 0
	if len(p.SPIs) > 0 {
		size = len(p.SPIs[0])
	}
	b.AddUint8(uint8(size))
	b.AddUint16(uint16(len(p.SPIs)))
	for _, s := range p.SPIs {
		if len(s) != size {
			b.SetError(fmt.Errorf("delete payload: SPIs of different sizes"))
			return
		}
		b.AddBytes(s)
	}
}

func parseDelete(_ PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &Delete{Protocol: ProtocolID(r.u8("protocol ID"))}
	size := int(r.u8("SPI size"))
	n := int(r.u16("number of SPIs"))
	if r.err != nil {
		return nil, r.err
	}
	if size*n != r.left() {
		return nil, SyntaxErrorf("%d SPIs of %d octets do not fill the remaining %d", n, size, r.left())
	}
	if p.Protocol == ProtocolIKE && (size != 0 || n != 0) {
		return nil, SyntaxErrorf("IKE SA deletion carries %d SPIs of size %d, want none", n, size)
	}
	if (p.Protocol == ProtocolESP || p.Protocol == ProtocolAH) && size != 4 {
		return nil, SyntaxErrorf("SPI size %d for %v, want 4", size, p.Protocol)
	}
	for i := 0; i < n; i++ {
		p.SPIs = append(p.SPIs, r.bytes(size, fmt.Sprintf("SPI %d", i+1)))
	}
	return p, nil
}

// VendorID is the Vendor ID payload.
type VendorID struct {
	Data []byte
}

func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (p *VendorID) marshalBody(b *cryptobyte.Builder) { b.AddBytes(p.Data) }

func parseVendorID(_ PayloadType, body cryptobyte.String) (Payload, error) {
	return &VendorID{Data: append([]byte(nil), body...)}, nil
}

// VendorIDOpportunisticIPsec is the Vendor ID Libreswan sends in OE.
var VendorIDOpportunisticIPsec = []byte("Opportunistic IPsec")

// UnknownPayload is a payload type we do not implement, kept so that the
// engine can log it. Non-critical ones are otherwise ignored.
type UnknownPayload struct {
	PayloadType PayloadType
	Critical    bool
	Body        []byte
}

func (p *UnknownPayload) Type() PayloadType { return p.PayloadType }

func (p *UnknownPayload) marshalBody(b *cryptobyte.Builder) { b.AddBytes(p.Body) }
