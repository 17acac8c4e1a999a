package wire

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// The Configuration payload (CP, RFC 7296 §3.15) carries "mode config":
// a remote-access client asks, in IKE_AUTH, for an internal address
// (CFG_REQUEST with an empty INTERNAL_IP4_ADDRESS), and the server
// answers with one from its pool (CFG_REPLY). Its body is
//
//	CFG type (1) | reserved (3) | attributes
//
// and each attribute is
//
//	R (1 bit) | attribute type (15 bits) | length (2) | value (length)
//
// The R bit is reserved: ignored on receipt, sent as 0.

// CFGType is the type of a Configuration payload.
type CFGType uint8

// CFG types (RFC 7296 §3.15).
const (
	CFGRequest CFGType = 1
	CFGReply   CFGType = 2
	CFGSet     CFGType = 3
	CFGAck     CFGType = 4
)

func (t CFGType) String() string {
	switch t {
	case CFGRequest:
		return "CFG_REQUEST"
	case CFGReply:
		return "CFG_REPLY"
	case CFGSet:
		return "CFG_SET"
	case CFGAck:
		return "CFG_ACK"
	}
	return fmt.Sprintf("CFG type %d", uint8(t))
}

// ConfigAttrType is the type of a configuration attribute (15 bits).
type ConfigAttrType uint16

// Configuration attribute types (RFC 7296 §3.15.1, RFC 5739 for the IPv6
// ones that §3.15.1 kept).
const (
	AttrInternalIP4Address  ConfigAttrType = 1
	AttrInternalIP4Netmask  ConfigAttrType = 2
	AttrInternalIP4DNS      ConfigAttrType = 3
	AttrInternalIP4NBNS     ConfigAttrType = 4
	AttrInternalIP4DHCP     ConfigAttrType = 6
	AttrApplicationVersion  ConfigAttrType = 7
	AttrInternalIP6Address  ConfigAttrType = 8
	AttrInternalIP6DNS      ConfigAttrType = 10
	AttrInternalIP6DHCP     ConfigAttrType = 12
	AttrInternalIP4Subnet   ConfigAttrType = 13
	AttrSupportedAttributes ConfigAttrType = 14
	AttrInternalIP6Subnet   ConfigAttrType = 15
)

var configAttrNames = map[ConfigAttrType]string{
	AttrInternalIP4Address: "INTERNAL_IP4_ADDRESS", AttrInternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	AttrInternalIP4DNS: "INTERNAL_IP4_DNS", AttrInternalIP4NBNS: "INTERNAL_IP4_NBNS",
	AttrInternalIP4DHCP: "INTERNAL_IP4_DHCP", AttrApplicationVersion: "APPLICATION_VERSION",
	AttrInternalIP6Address: "INTERNAL_IP6_ADDRESS", AttrInternalIP6DNS: "INTERNAL_IP6_DNS",
	AttrInternalIP6DHCP: "INTERNAL_IP6_DHCP", AttrInternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	AttrSupportedAttributes: "SUPPORTED_ATTRIBUTES", AttrInternalIP6Subnet: "INTERNAL_IP6_SUBNET",
}

func (t ConfigAttrType) String() string {
	if s, ok := configAttrNames[t]; ok {
		return s
	}
	return fmt.Sprintf("attribute type %d", uint16(t))
}

// attrLengths are the value lengths RFC 7296 §3.15.1 allows for the
// attributes of fixed size besides 0, the length of a request for it.
// The ones not listed (APPLICATION_VERSION, SUPPORTED_ATTRIBUTES, and
// types we do not know) are checked elsewhere or kept as they are.
var attrLengths = map[ConfigAttrType]int{
	AttrInternalIP4Address: 4, AttrInternalIP4Netmask: 4, AttrInternalIP4DNS: 4,
	AttrInternalIP4NBNS: 4, AttrInternalIP4DHCP: 4,
	AttrInternalIP6Address: 17, AttrInternalIP6DNS: 16, AttrInternalIP6DHCP: 16,
	AttrInternalIP4Subnet: 8, AttrInternalIP6Subnet: 17,
}

// ConfigAttribute is one attribute of a CP payload. An empty Value asks
// for the attribute (in CFG_REQUEST) or acknowledges it (CFG_ACK).
// Attributes of types we do not know are kept, value and all.
type ConfigAttribute struct {
	Type  ConfigAttrType // 15 bits
	Value []byte
}

// ConfigRequest returns the empty attribute that asks for type t.
func ConfigRequest(t ConfigAttrType) ConfigAttribute { return ConfigAttribute{Type: t} }

// AddrAttribute returns INTERNAL_IP4_ADDRESS for an IPv4 address, or
// INTERNAL_IP6_ADDRESS (address and prefix length) for an IPv6 prefix.
// The prefix length of an IPv4 prefix is not sent (a netmask attribute
// would carry it; we lease single addresses).
func AddrAttribute(p netip.Prefix) ConfigAttribute {
	a := p.Addr().Unmap()
	if a.Is4() {
		return ConfigAttribute{Type: AttrInternalIP4Address, Value: a.AsSlice()}
	}
	return ConfigAttribute{Type: AttrInternalIP6Address, Value: append(a.AsSlice(), byte(p.Bits()))}
}

func (a ConfigAttribute) String() string {
	if len(a.Value) == 0 {
		return a.Type.String() + "(request)"
	}
	switch a.Type {
	case AttrInternalIP4Address, AttrInternalIP4Netmask, AttrInternalIP4DNS, AttrInternalIP4NBNS, AttrInternalIP4DHCP,
		AttrInternalIP6DNS, AttrInternalIP6DHCP:
		if ad, ok := a.Addr(); ok {
			return fmt.Sprintf("%v=%v", a.Type, ad)
		}
	case AttrInternalIP6Address, AttrInternalIP4Subnet, AttrInternalIP6Subnet:
		if p, ok := a.Prefix(); ok {
			return fmt.Sprintf("%v=%v", a.Type, p)
		}
	}
	return fmt.Sprintf("%v=%x", a.Type, a.Value)
}

// Addr returns the address an address-valued attribute carries (the
// IPv4 and IPv6 address, netmask, DNS, NBNS and DHCP attributes, and the
// address part of INTERNAL_IP6_ADDRESS); false for an empty value or
// another type.
func (a ConfigAttribute) Addr() (netip.Addr, bool) {
	switch {
	case len(a.Value) == 4 && (a.Type == AttrInternalIP4Address || a.Type == AttrInternalIP4Netmask ||
		a.Type == AttrInternalIP4DNS || a.Type == AttrInternalIP4NBNS || a.Type == AttrInternalIP4DHCP):
		return netip.AddrFrom4([4]byte(a.Value)), true
	case len(a.Value) == 16 && (a.Type == AttrInternalIP6DNS || a.Type == AttrInternalIP6DHCP),
		len(a.Value) == 17 && a.Type == AttrInternalIP6Address:
		return netip.AddrFrom16([16]byte(a.Value[:16])), true
	}
	return netip.Addr{}, false
}

// Prefix returns the prefix of INTERNAL_IP6_ADDRESS (address and prefix
// length), INTERNAL_IP4_SUBNET (address and netmask) and
// INTERNAL_IP6_SUBNET, and an IPv4 address as a /32; false for an empty
// value, another type, or a netmask that is not a prefix.
func (a ConfigAttribute) Prefix() (netip.Prefix, bool) {
	switch {
	case a.Type == AttrInternalIP4Address && len(a.Value) == 4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(a.Value)), 32), true
	case (a.Type == AttrInternalIP6Address || a.Type == AttrInternalIP6Subnet) && len(a.Value) == 17:
		if a.Value[16] > 128 {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(netip.AddrFrom16([16]byte(a.Value[:16])), int(a.Value[16])), true
	case a.Type == AttrInternalIP4Subnet && len(a.Value) == 8:
		bits, ok := maskBits(a.Value[4:])
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(a.Value[:4])), bits), true
	}
	return netip.Prefix{}, false
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m []byte) (int, bool) {
	bits, done := 0, false
	for _, b := range m {
		for i := 7; i >= 0; i-- {
			set := b&(1<<i) != 0
			switch {
			case set && done:
				return 0, false
			case set:
				bits++
			default:
				done = true
			}
		}
	}
	return bits, true
}

// validate checks the value length RFC 7296 §3.15.1 gives the type.
func (a ConfigAttribute) validate() error {
	n := len(a.Value)
	if want, ok := attrLengths[a.Type]; ok && n != 0 && n != want {
		return SyntaxErrorf("%v: %d octets, want 0 or %d", a.Type, n, want)
	}
	switch a.Type {
	case AttrInternalIP6Address, AttrInternalIP6Subnet:
		if n == 17 && a.Value[16] > 128 {
			return SyntaxErrorf("%v: prefix length %d exceeds 128", a.Type, a.Value[16])
		}
	case AttrSupportedAttributes:
		if n%2 != 0 {
			return SyntaxErrorf("%v: %d octets, want a multiple of 2", a.Type, n)
		}
	}
	return nil
}

// Config is the Configuration payload.
type Config struct {
	CFGType    CFGType
	Attributes []ConfigAttribute
}

func (*Config) Type() PayloadType { return PayloadCP }

// Find returns the attributes of type t, in order.
func (p *Config) Find(t ConfigAttrType) []ConfigAttribute {
	var out []ConfigAttribute
	for _, a := range p.Attributes {
		if a.Type == t {
			out = append(out, a)
		}
	}
	return out
}

// Has reports whether the payload carries an attribute of type t.
func (p *Config) Has(t ConfigAttrType) bool {
	for _, a := range p.Attributes {
		if a.Type == t {
			return true
		}
	}
	return false
}

func (p *Config) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.CFGType))
	b.AddBytes([]byte{0, 0, 0})
	for _, a := range p.Attributes {
		if len(a.Value) > 0xffff {
			b.SetError(fmt.Errorf("CP payload: %v: %d octets do not fit the length field", a.Type, len(a.Value)))
			return
		}
		b.AddUint16(uint16(a.Type) & 0x7fff)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Value) })
	}
}

// parseCP decodes a CP payload. Attributes of types we do not know are
// kept; the ones we know must have the length their type allows. A CFG
// type we do not know is kept too: the engine decides what to do with
// it.
func parseCP(_ PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &Config{CFGType: CFGType(r.u8("CFG type"))}
	r.skip(3, "reserved")
	for i := 1; r.err == nil && !r.empty(); i++ {
		field := fmt.Sprintf("attribute %d", i)
		t := ConfigAttrType(r.u16(field+": type") & 0x7fff)
		n := int(r.u16(field + ": length"))
		if r.err == nil && n > r.left() {
			return nil, SyntaxErrorf("%s: length %d exceeds remaining %d", field, n, r.left())
		}
		a := ConfigAttribute{Type: t, Value: r.bytes(n, field+": value")}
		if r.err == nil {
			if err := a.validate(); err != nil {
				return nil, SyntaxErrorf("%s: %v", field, err)
			}
		}
		p.Attributes = append(p.Attributes, a)
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}
