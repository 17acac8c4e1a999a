package wire

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// TSType is a traffic selector type.
type TSType uint8

// Traffic selector types (RFC 7296 §3.13.1).
const (
	TSIPv4AddrRange TSType = 7
	TSIPv6AddrRange TSType = 8
)

// TrafficSelector is one selector: an address range, a protocol and a
// port range. Selectors of types we do not implement keep their raw
// octets in Raw and match nothing.
type TrafficSelector struct {
	Type       TSType
	IPProtocol uint8 // 0 = any
	StartPort  uint16
	EndPort    uint16
	Start, End netip.Addr
	Raw        []byte // body after the selector length, for unknown types
}

// HostSelector returns the selector for all traffic of one address.
func HostSelector(a netip.Addr) TrafficSelector {
	a = a.Unmap()
	t := TSIPv4AddrRange
	if a.Is6() {
		t = TSIPv6AddrRange
	}
	return TrafficSelector{Type: t, StartPort: 0, EndPort: 0xffff, Start: a, End: a}
}

func (ts TrafficSelector) String() string {
	if ts.Type != TSIPv4AddrRange && ts.Type != TSIPv6AddrRange {
		return fmt.Sprintf("TS type %d", ts.Type)
	}
	return fmt.Sprintf("%v-%v proto %d ports %d-%d", ts.Start, ts.End, ts.IPProtocol, ts.StartPort, ts.EndPort)
}

// TSPayload is TSi or TSr.
type TSPayload struct {
	Responder bool // TSr rather than TSi
	Selectors []TrafficSelector
}

func (p *TSPayload) Type() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

func (p *TSPayload) marshalBody(b *cryptobyte.Builder) {
	if len(p.Selectors) == 0 || len(p.Selectors) > 255 {
		b.SetError(fmt.Errorf("%v payload: %d selectors, want 1..255", p.Type(), len(p.Selectors)))
		return
	}
	b.AddUint8(uint8(len(p.Selectors)))
	b.AddBytes([]byte{0, 0, 0})
	for i, ts := range p.Selectors {
		b.AddUint8(uint8(ts.Type))
		var body []byte
		switch ts.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			n := 4
			if ts.Type == TSIPv6AddrRange {
				n = 16
			}
			s, e := ts.Start.Unmap(), ts.End.Unmap()
			if len(s.AsSlice()) != n || len(e.AsSlice()) != n {
				b.SetError(fmt.Errorf("%v payload: selector %d: addresses %v-%v do not fit type %d", p.Type(), i+1, ts.Start, ts.End, ts.Type))
				return
			}
			body = append(body, ts.IPProtocol)
			body = append(body, 0, 0) // length placeholder
			body = append(body, byte(ts.StartPort>>8), byte(ts.StartPort), byte(ts.EndPort>>8), byte(ts.EndPort))
			body = append(body, s.AsSlice()...)
			body = append(body, e.AsSlice()...)
		default:
			body = append([]byte{ts.IPProtocol, 0, 0}, ts.Raw...)
		}
		l := len(body) + 1
		body[1], body[2] = byte(l>>8), byte(l)
		b.AddBytes(body)
	}
}

// ParseTrafficSelectors decodes a TS payload body.
func ParseTrafficSelectors(body []byte) ([]TrafficSelector, error) {
	r := &reader{s: body}
	n := int(r.u8("number of TSs"))
	r.skip(3, "reserved")
	if r.err != nil {
		return nil, r.err
	}
	if n == 0 {
		return nil, SyntaxErrorf("number of TSs is 0")
	}
	out := make([]TrafficSelector, 0, n)
	for i := 1; i <= n; i++ {
		ts, err := parseSelector(r)
		if err != nil {
			// The selector's number is added here, not formatted into
			// every field name beforehand.
			return nil, SyntaxErrorf("selector %d: %v", i, err)
		}
		out = append(out, ts)
	}
	if !r.empty() {
		return nil, SyntaxErrorf("%d octets after %d selectors", r.left(), n)
	}
	return out, nil
}

func parseTS(t PayloadType, body cryptobyte.String) (Payload, error) {
	sel, err := ParseTrafficSelectors(body)
	if err != nil {
		return nil, err
	}
	return &TSPayload{Responder: t == PayloadTSr, Selectors: sel}, nil
}

// parseSelector decodes the next traffic selector of r. Its errors name
// the field, not the selector, which the caller adds.
func parseSelector(r *reader) (TrafficSelector, error) {
	ts := TrafficSelector{Type: TSType(r.u8("TS type"))}
	ts.IPProtocol = r.u8("IP protocol")
	l := int(r.u16("selector length"))
	if r.err != nil {
		return ts, r.err
	}
	if l < 4 || l-4 > r.left() {
		return ts, SyntaxErrorf("selector length %d outside 4..%d", l, r.left()+4)
	}
	sr := r.sub(l-4, "selector")
	switch ts.Type {
	case TSIPv4AddrRange, TSIPv6AddrRange:
		alen := 4
		if ts.Type == TSIPv6AddrRange {
			alen = 16
		}
		if l != 8+2*alen {
			return ts, SyntaxErrorf("selector length %d for type %d, want %d", l, ts.Type, 8+2*alen)
		}
		ts.StartPort = sr.u16("start port")
		ts.EndPort = sr.u16("end port")
		ts.Start, _ = netip.AddrFromSlice(sr.view(alen, "starting address"))
		ts.End, _ = netip.AddrFromSlice(sr.view(alen, "ending address"))
		if sr.err != nil {
			return ts, sr.err
		}
	default:
		ts.Raw = sr.rest()
	}
	return ts, nil
}
