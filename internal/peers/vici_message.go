package peers

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// A ViciMessage is one decoded vici message (strongSwan's control protocol): an ordered set of
// keys whose values are a string, a list of strings, or a nested section.
type ViciMessage struct {
	keys   []string
	values map[string]any // string | []string | *ViciMessage
}

// vici packet types (strongSwan src/libcharon/plugins/vici/vici_socket.h)
const (
	viciCmdRequest      = 0
	viciCmdResponse     = 1
	viciCmdUnknown      = 2
	viciEventRegister   = 3
	viciEventUnregister = 4
	viciEventConfirm    = 5
	viciEventUnknown    = 6
	viciEvent           = 7
)

// vici message element types (vici_message.h)
const (
	viciSectionStart = 1
	viciSectionEnd   = 2
	viciKeyValue     = 3
	viciListStart    = 4
	viciListItem     = 5
	viciListEnd      = 6
)

// viciMaxDepth bounds section nesting so a hostile message cannot exhaust the stack.
const viciMaxDepth = 32

// NewViciMessage returns an empty message.
func NewViciMessage() *ViciMessage { return &ViciMessage{values: map[string]any{}} }

// Set adds or replaces a string value.
func (m *ViciMessage) Set(key, v string) { m.set(key, v) }

// SetList adds or replaces a list value.
func (m *ViciMessage) SetList(key string, v []string) { m.set(key, v) }

// SetSection adds or replaces a nested section.
func (m *ViciMessage) SetSection(key string, v *ViciMessage) { m.set(key, v) }

func (m *ViciMessage) set(key string, v any) {
	if _, ok := m.values[key]; !ok {
		m.keys = append(m.keys, key)
	}
	m.values[key] = v
}

// Keys returns the keys in wire order.
func (m *ViciMessage) Keys() []string { return append([]string(nil), m.keys...) }

// Get returns the string value of key, or "" when it is absent or not a string.
func (m *ViciMessage) Get(key string) string {
	s, _ := m.values[key].(string)
	return s
}

// List returns the list value of key (nil when absent or not a list).
func (m *ViciMessage) List(key string) []string {
	l, _ := m.values[key].([]string)
	return l
}

// Section returns the nested section key (nil when absent or not a section).
func (m *ViciMessage) Section(key string) *ViciMessage {
	s, _ := m.values[key].(*ViciMessage)
	return s
}

// String renders the message like `swanctl --raw`, keys in wire order.
func (m *ViciMessage) String() string {
	var b strings.Builder
	m.format(&b)
	return b.String()
}

func (m *ViciMessage) format(b *strings.Builder) {
	b.WriteString("{")
	for i, k := range m.keys {
		if i > 0 {
			b.WriteString(" ")
		}
		switch v := m.values[k].(type) {
		case string:
			fmt.Fprintf(b, "%s=%s", k, v)
		case []string:
			fmt.Fprintf(b, "%s=[%s]", k, strings.Join(v, " "))
		case *ViciMessage:
			b.WriteString(k + " ")
			v.format(b)
		}
	}
	b.WriteString("}")
}

// marshal encodes the message body (without packet type or name).
func (m *ViciMessage) marshal(b *cryptobyte.Builder) {
	for _, k := range m.keys {
		switch v := m.values[k].(type) {
		case string:
			b.AddUint8(viciKeyValue)
			addU8String(b, k)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
		case []string:
			b.AddUint8(viciListStart)
			addU8String(b, k)
			for _, item := range v {
				b.AddUint8(viciListItem)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(item)) })
			}
			b.AddUint8(viciListEnd)
		case *ViciMessage:
			b.AddUint8(viciSectionStart)
			addU8String(b, k)
			v.marshal(b)
			b.AddUint8(viciSectionEnd)
		}
	}
}

func addU8String(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// parseViciMessage decodes a message body. Every length is checked; errors name the
// element and its offset.
func parseViciMessage(data []byte) (*ViciMessage, error) {
	s := cryptobyte.String(data)
	root := NewViciMessage()
	stack := []*ViciMessage{root}
	for !s.Empty() {
		off := len(data) - len(s)
		var typ uint8
		s.ReadUint8(&typ)
		cur := stack[len(stack)-1]
		switch typ {
		case viciSectionStart:
			var name cryptobyte.String
			if !s.ReadUint8LengthPrefixed(&name) {
				return nil, fmt.Errorf("vici: section name at offset %d: truncated", off)
			}
			if len(stack) > viciMaxDepth {
				return nil, fmt.Errorf("vici: section %q at offset %d: nesting deeper than %d", name, off, viciMaxDepth)
			}
			sub := NewViciMessage()
			cur.SetSection(string(name), sub)
			stack = append(stack, sub)
		case viciSectionEnd:
			if len(stack) == 1 {
				return nil, fmt.Errorf("vici: section end at offset %d without a section", off)
			}
			stack = stack[:len(stack)-1]
		case viciKeyValue:
			var name, value cryptobyte.String
			if !s.ReadUint8LengthPrefixed(&name) || !s.ReadUint16LengthPrefixed(&value) {
				return nil, fmt.Errorf("vici: key/value at offset %d: truncated", off)
			}
			cur.Set(string(name), string(value))
		case viciListStart:
			var name cryptobyte.String
			if !s.ReadUint8LengthPrefixed(&name) {
				return nil, fmt.Errorf("vici: list name at offset %d: truncated", off)
			}
			items := []string{}
			for {
				var t uint8
				itemOff := len(data) - len(s)
				if !s.ReadUint8(&t) {
					return nil, fmt.Errorf("vici: list %q: no list end", name)
				}
				if t == viciListEnd {
					break
				}
				var item cryptobyte.String
				if t != viciListItem || !s.ReadUint16LengthPrefixed(&item) {
					return nil, fmt.Errorf("vici: list %q: bad item (type %d) at offset %d", name, t, itemOff)
				}
				items = append(items, string(item))
			}
			cur.SetList(string(name), items)
		default:
			return nil, fmt.Errorf("vici: unknown element type %d at offset %d", typ, off)
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("vici: %d section(s) not closed", len(stack)-1)
	}
	return root, nil
}

// viciPacket is one framed packet: type, optional name, optional message.
type viciPacket struct {
	typ  uint8
	name string
	msg  *ViciMessage
}

func viciTypeHasName(t uint8) bool {
	return t == viciCmdRequest || t == viciEventRegister || t == viciEventUnregister || t == viciEvent
}

func viciTypeHasMessage(t uint8) bool {
	return t == viciCmdRequest || t == viciCmdResponse || t == viciEvent
}

func (p viciPacket) marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(p.typ)
		if viciTypeHasName(p.typ) {
			addU8String(b, p.name)
		}
		if p.msg != nil && viciTypeHasMessage(p.typ) {
			p.msg.marshal(b)
		}
	})
	return b.Bytes()
}

// parseViciPacket decodes a packet body (after the 4-byte length).
func parseViciPacket(data []byte) (viciPacket, error) {
	s := cryptobyte.String(data)
	var p viciPacket
	if !s.ReadUint8(&p.typ) {
		return p, fmt.Errorf("vici: empty packet")
	}
	if p.typ > viciEvent {
		return p, fmt.Errorf("vici: unknown packet type %d", p.typ)
	}
	if viciTypeHasName(p.typ) {
		var name cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&name) {
			return p, fmt.Errorf("vici: packet type %d: truncated name", p.typ)
		}
		p.name = string(name)
	}
	if viciTypeHasMessage(p.typ) {
		m, err := parseViciMessage(s)
		if err != nil {
			return p, fmt.Errorf("vici: packet type %d %q: %w", p.typ, p.name, err)
		}
		p.msg = m
	} else if !s.Empty() {
		return p, fmt.Errorf("vici: packet type %d carries %d unexpected bytes", p.typ, len(s))
	}
	return p, nil
}
