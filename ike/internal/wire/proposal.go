package wire

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// ProtocolID names the protocol of a proposal, notify or delete.
type ProtocolID uint8

// Protocol IDs (RFC 7296 §3.3.1).
const (
	ProtocolIKE ProtocolID = 1
	ProtocolAH  ProtocolID = 2
	ProtocolESP ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtocolIKE:
		return "IKE"
	case ProtocolAH:
		return "AH"
	case ProtocolESP:
		return "ESP"
	}
	return fmt.Sprintf("protocol %d", uint8(p))
}

// SA is the Security Association payload.
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal of an SA payload.
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte // empty in IKE_SA_INIT, 8 octets when rekeying IKE, 4 for ESP
	Transforms []Transform
}

// Transform is one transform of a proposal.
type Transform struct {
	Type TransformType
	ID   uint16
	// KeyLength is the Key Length attribute in bits; 0 when absent.
	KeyLength uint16
	// Attributes holds any other attribute. RFC 7296 §3.3.6: a transform
	// with an attribute we do not understand must not be selected.
	Attributes []TransformAttribute
}

// TransformAttribute is a transform attribute other than Key Length.
type TransformAttribute struct {
	Type  uint16 // without the AF bit
	TV    bool   // type/value form: Value is exactly 2 octets
	Value []byte
}

func (t Transform) String() string {
	var name string
	if t.Type == TransformENCR {
		name = EncrName(t.ID, int(t.KeyLength))
	} else {
		name = TransformIDName(t.Type, t.ID)
	}
	if len(t.Attributes) > 0 {
		name += "+attrs"
	}
	return name
}

func (*SA) Type() PayloadType { return PayloadSA }

// marshalBody writes the proposals and their transforms straight into b.
// Each length is worked out before its substructure is written
// (proposalLen, transformLen), so no child builder is needed: a
// cryptobyte length prefix, or a builder per substructure, cost an
// allocation or more for every proposal and every transform, about a
// hundred per handshake with our default offer.
func (p *SA) marshalBody(b *cryptobyte.Builder) {
	if len(p.Proposals) == 0 {
		b.SetError(fmt.Errorf("SA payload: no proposals"))
		return
	}
	for i := range p.Proposals {
		prop := &p.Proposals[i]
		n, err := prop.marshalLen()
		if err != nil {
			b.SetError(err)
			return
		}
		more := uint8(0) // "last substruc": 0 for the last proposal, 2 before it
		if i+1 < len(p.Proposals) {
			more = 2
		}
		b.AddUint8(more)
		b.AddUint8(0)
		b.AddUint16(uint16(n))
		b.AddUint8(prop.Number)
		b.AddUint8(uint8(prop.Protocol))
		b.AddUint8(uint8(len(prop.SPI)))
		b.AddUint8(uint8(len(prop.Transforms)))
		b.AddBytes(prop.SPI)
		for j := range prop.Transforms {
			t := &prop.Transforms[j]
			more := uint8(0) // 0 for the last transform, 3 before it
			if j+1 < len(prop.Transforms) {
				more = 3
			}
			b.AddUint8(more)
			b.AddUint8(0)
			b.AddUint16(uint16(t.marshalLen()))
			b.AddUint8(uint8(t.Type))
			b.AddUint8(0)
			b.AddUint16(t.ID)
			if t.KeyLength != 0 {
				b.AddUint16(0x8000 | AttrKeyLength)
				b.AddUint16(t.KeyLength)
			}
			for _, a := range t.Attributes {
				if a.TV {
					b.AddUint16(0x8000 | a.Type)
					b.AddBytes(a.Value)
				} else {
					b.AddUint16(a.Type &^ 0x8000)
					b.AddUint16(uint16(len(a.Value)))
					b.AddBytes(a.Value)
				}
			}
		}
	}
}

// proposalHeaderLen and transformHeaderLen are the octets of a proposal's
// and a transform's substructure before their contents, the generic
// 4-octet header included, as their length fields count them.
const (
	proposalHeaderLen  = 8
	transformHeaderLen = 8
)

// marshalLen is the length field of the proposal as marshalBody writes
// it, or an error if the proposal cannot be encoded: a length over 16
// bits, or a TV attribute whose value is not 2 octets.
func (prop *Proposal) marshalLen() (int, error) {
	n := proposalHeaderLen + len(prop.SPI)
	for j := range prop.Transforms {
		t := &prop.Transforms[j]
		for _, a := range t.Attributes {
			if a.TV && len(a.Value) != 2 {
				return 0, fmt.Errorf("SA payload: TV attribute %d value of %d octets", a.Type, len(a.Value))
			}
			if !a.TV && len(a.Value) > 0xffff {
				return 0, fmt.Errorf("SA payload: attribute %d value of %d octets too long", a.Type, len(a.Value))
			}
		}
		tl := t.marshalLen()
		if tl > 0xffff {
			return 0, fmt.Errorf("substructure of %d octets too long", tl)
		}
		n += tl
	}
	if n > 0xffff {
		return 0, fmt.Errorf("substructure of %d octets too long", n)
	}
	return n, nil
}

// marshalLen is the length field of the transform as marshalBody writes
// it: its header, the Key Length attribute if any, and every other
// attribute (4 octets for the TV form, 4 and the value for TLV).
func (t *Transform) marshalLen() int {
	n := transformHeaderLen
	if t.KeyLength != 0 {
		n += 4
	}
	for _, a := range t.Attributes {
		n += 4
		if !a.TV {
			n += len(a.Value)
		}
	}
	return n
}

func parseSA(_ PayloadType, body cryptobyte.String) (Payload, error) {
	sa := &SA{Proposals: make([]Proposal, 0, countProposals(body))}
	r := &reader{s: body}
	for n := 1; ; n++ {
		if n > maxProposals {
			return nil, SyntaxErrorf("more than %d proposals", maxProposals)
		}
		prop, last, err := parseProposal(r)
		if err != nil {
			return nil, fmt.Errorf("proposal %d: %w", n, err)
		}
		sa.Proposals = append(sa.Proposals, prop)
		if last {
			if !r.empty() {
				return nil, SyntaxErrorf("proposal %d: marked last but %d octets follow", n, r.left())
			}
			return sa, nil
		}
		if r.empty() {
			return nil, SyntaxErrorf("proposal %d: not marked last but nothing follows", n)
		}
	}
}

// countProposals is how many proposals body seems to hold, by their
// headers' last-substructure marks and lengths, so that parseSA makes the
// list once instead of growing it (a usual offer has two to four). It
// checks nothing: parseSA does, and a malformed body costs at most a list
// of maxProposals.
func countProposals(body []byte) int {
	n := 1
	for off := 0; off+4 <= len(body) && n < maxProposals; n++ {
		l := int(body[off+2])<<8 | int(body[off+3])
		if body[off] == 0 || l < 4 {
			break
		}
		off += l
	}
	return n
}

const (
	maxProposals  = 64
	maxTransforms = 64
)

func parseProposal(r *reader) (Proposal, bool, error) {
	var p Proposal
	last := r.u8("last substruc")
	r.u8("reserved")
	length := int(r.u16("proposal length"))
	if r.err != nil {
		return p, false, r.err
	}
	if last != 0 && last != 2 {
		return p, false, SyntaxErrorf("last substruc %d, want 0 or 2", last)
	}
	if length < 8 {
		return p, false, SyntaxErrorf("proposal length %d below minimum 8", length)
	}
	if length-4 > r.left() {
		return p, false, SyntaxErrorf("proposal length %d exceeds remaining %d", length, r.left()+4)
	}
	pr := r.sub(length-4, "proposal")
	p.Number = pr.u8("proposal number")
	p.Protocol = ProtocolID(pr.u8("protocol ID"))
	spiSize := int(pr.u8("SPI size"))
	ntrans := int(pr.u8("number of transforms"))
	p.SPI = pr.bytes(spiSize, "SPI")
	if pr.err != nil {
		return p, false, pr.err
	}
	if ntrans > maxTransforms {
		return p, false, SyntaxErrorf("%d transforms exceed limit %d", ntrans, maxTransforms)
	}
	// One allocation for the transforms rather than one per doubling;
	// sized by what the octets can hold, never by the count alone.
	if n := min(ntrans, pr.left()/8); n > 0 {
		p.Transforms = make([]Transform, 0, n)
	}
	for i := 1; i <= ntrans; i++ {
		t, tlast, err := parseTransform(&pr)
		if err != nil {
			return p, false, fmt.Errorf("transform %d: %w", i, err)
		}
		p.Transforms = append(p.Transforms, t)
		if tlast != (i == ntrans) {
			if tlast {
				return p, false, SyntaxErrorf("transform %d: marked last but proposal declares %d transforms", i, ntrans)
			}
			return p, false, SyntaxErrorf("transform %d: last of %d transforms not marked last", i, ntrans)
		}
	}
	if !pr.empty() {
		return p, false, SyntaxErrorf("%d octets after transform %d", pr.left(), ntrans)
	}
	return p, last == 0, nil
}

func parseTransform(r *reader) (Transform, bool, error) {
	var t Transform
	last := r.u8("last substruc")
	r.u8("reserved")
	length := int(r.u16("transform length"))
	if r.err != nil {
		return t, false, r.err
	}
	if last != 0 && last != 3 {
		return t, false, SyntaxErrorf("last substruc %d, want 0 or 3", last)
	}
	if length < 8 {
		return t, false, SyntaxErrorf("transform length %d below minimum 8", length)
	}
	if length-4 > r.left() {
		return t, false, SyntaxErrorf("transform length %d exceeds remaining %d", length, r.left()+4)
	}
	tr := r.sub(length-4, "transform")
	t.Type = TransformType(tr.u8("transform type"))
	tr.u8("reserved")
	t.ID = tr.u16("transform ID")
	// The fields' names are constant, so that a well-formed transform
	// formats no text; a field that does not fit gets its attribute's
	// number when the loop ends.
	i := 0
	for tr.err == nil && !tr.empty() {
		i++
		at := tr.u16("type")
		if tr.err != nil {
			break
		}
		if at&0x8000 != 0 {
			v := tr.view(2, "value") // copied below if kept
			if tr.err != nil {
				break
			}
			if at&0x7fff == AttrKeyLength {
				if t.KeyLength != 0 {
					return t, false, SyntaxErrorf("attribute %d: duplicate key length", i)
				}
				t.KeyLength = uint16(v[0])<<8 | uint16(v[1])
				if t.KeyLength == 0 {
					return t, false, SyntaxErrorf("attribute %d: key length 0", i)
				}
				continue
			}
			t.Attributes = append(t.Attributes, TransformAttribute{Type: at & 0x7fff, TV: true, Value: append([]byte(nil), v...)})
			continue
		}
		n := int(tr.u16("length"))
		if tr.err == nil && n > tr.left() {
			return t, false, SyntaxErrorf("attribute %d: attribute length %d exceeds remaining %d", i, n, tr.left())
		}
		t.Attributes = append(t.Attributes, TransformAttribute{Type: at, Value: tr.bytes(n, "value")})
	}
	if tr.err != nil {
		if i > 0 {
			return t, false, SyntaxErrorf("attribute %d: %v", i, tr.err)
		}
		return t, false, tr.err
	}
	return t, last == 0, nil
}
