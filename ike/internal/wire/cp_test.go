package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// cpBody builds a CP payload body: the CFG type, then raw attributes.
func cpBody(t CFGType, attrs ...[]byte) []byte {
	b := []byte{byte(t), 0, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// attr encodes one attribute with its length taken from the value.
func attr(t uint16, v ...byte) []byte {
	return append([]byte{byte(t >> 8), byte(t), byte(len(v) >> 8), byte(len(v))}, v...)
}

func TestParseCP(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::7").AsSlice()
	for _, tc := range []struct {
		name string
		body []byte
		want Config
	}{
		{"request v4 and v6", cpBody(CFGRequest, attr(1), attr(8)),
			Config{CFGType: CFGRequest, Attributes: []ConfigAttribute{{Type: AttrInternalIP4Address}, {Type: AttrInternalIP6Address}}}},
		{"reply", cpBody(CFGReply, attr(1, 100, 64, 0, 1), attr(2, 255, 255, 255, 255), attr(3, 192, 0, 2, 53), attr(8, append(v6, 64)...), attr(10, v6...)),
			Config{CFGType: CFGReply, Attributes: []ConfigAttribute{
				{Type: AttrInternalIP4Address, Value: []byte{100, 64, 0, 1}},
				{Type: AttrInternalIP4Netmask, Value: []byte{255, 255, 255, 255}},
				{Type: AttrInternalIP4DNS, Value: []byte{192, 0, 2, 53}},
				{Type: AttrInternalIP6Address, Value: append(append([]byte(nil), v6...), 64)},
				{Type: AttrInternalIP6DNS, Value: v6},
			}}},
		// The R bit is reserved: ignored on receipt.
		{"R bit", cpBody(CFGSet, attr(0x8001)), Config{CFGType: CFGSet, Attributes: []ConfigAttribute{{Type: AttrInternalIP4Address}}}},
		// Unknown attributes (here a private-use one, 16384+) keep their value.
		{"unknown kept", cpBody(CFGAck, attr(16500, 1, 2, 3)), Config{CFGType: CFGAck, Attributes: []ConfigAttribute{{Type: 16500, Value: []byte{1, 2, 3}}}}},
		{"application version", cpBody(CFGReply, attr(7, 'o', 'e')), Config{CFGType: CFGReply, Attributes: []ConfigAttribute{{Type: AttrApplicationVersion, Value: []byte("oe")}}}},
		{"supported attributes", cpBody(CFGReply, attr(14, 0, 1, 0, 8)), Config{CFGType: CFGReply, Attributes: []ConfigAttribute{{Type: AttrSupportedAttributes, Value: []byte{0, 1, 0, 8}}}}},
		{"no attributes", cpBody(CFGRequest), Config{CFGType: CFGRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage(rawMessage(PayloadCP, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.Get(PayloadCP).(*Config)
			if !ok {
				t.Fatalf("no CP payload in %v", m.Payloads)
			}
			if got.CFGType != tc.want.CFGType || len(got.Attributes) != len(tc.want.Attributes) {
				t.Fatalf("got %v %v, want %v %v", got.CFGType, got.Attributes, tc.want.CFGType, tc.want.Attributes)
			}
			for i, a := range got.Attributes {
				w := tc.want.Attributes[i]
				if a.Type != w.Type || !bytes.Equal(a.Value, w.Value) {
					t.Errorf("attribute %d: got %v, want %v", i+1, a, w)
				}
			}
			// What we parse we write back the same, but for the R bit.
			out, err := (&Message{Header: m.Header, Payloads: m.Payloads}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := rawMessage(PayloadCP, tc.body)
			if tc.name == "R bit" {
				want = rawMessage(PayloadCP, cpBody(CFGSet, attr(1)))
			}
			if !bytes.Equal(out, want) {
				t.Errorf("re-encoded\n%x\nwant\n%x", out, want)
			}
		})
	}
}

func TestParseCPErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"short header", []byte{1, 0}, "ike: CP payload: reserved: need 3 octets, have 1"},
		{"short attribute header", cpBody(CFGRequest, []byte{0, 1, 0}), "ike: CP payload: attribute 1: length: need 2 octets, have 1"},
		{"value past end", cpBody(CFGReply, attr(1), []byte{0, 3, 0, 4, 1}), "ike: CP payload: attribute 2: length 4 exceeds remaining 1"},
		{"IPv4 address length", cpBody(CFGReply, attr(1, 10, 0, 0)), "ike: CP payload: attribute 1: INTERNAL_IP4_ADDRESS: 3 octets, want 0 or 4"},
		{"IPv6 address without prefix length", cpBody(CFGReply, attr(8, make([]byte, 16)...)), "ike: CP payload: attribute 1: INTERNAL_IP6_ADDRESS: 16 octets, want 0 or 17"},
		{"IPv6 prefix length", cpBody(CFGReply, attr(8, append(make([]byte, 16), 129)...)), "ike: CP payload: attribute 1: INTERNAL_IP6_ADDRESS: prefix length 129 exceeds 128"},
		{"IPv4 subnet", cpBody(CFGReply, attr(13, 10, 0, 0, 0)), "ike: CP payload: attribute 1: INTERNAL_IP4_SUBNET: 4 octets, want 0 or 8"},
		{"IPv6 DNS", cpBody(CFGReply, attr(10, 1, 2, 3, 4)), "ike: CP payload: attribute 1: INTERNAL_IP6_DNS: 4 octets, want 0 or 16"},
		{"supported attributes odd", cpBody(CFGReply, attr(14, 0, 1, 0)), "ike: CP payload: attribute 1: SUPPORTED_ATTRIBUTES: 3 octets, want a multiple of 2"},
	} {
		_, err := ParseMessage(rawMessage(PayloadCP, tc.body))
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: %T is not a *SyntaxError", tc.name, err)
		}
	}
}

func TestConfigAttributeValues(t *testing.T) {
	p4 := netip.MustParsePrefix("100.64.0.9/32")
	a := AddrAttribute(p4)
	if a.Type != AttrInternalIP4Address || !bytes.Equal(a.Value, []byte{100, 64, 0, 9}) {
		t.Fatalf("AddrAttribute(%v) = %v", p4, a)
	}
	if got, ok := a.Prefix(); !ok || got != p4 {
		t.Errorf("Prefix() = %v %v, want %v", got, ok, p4)
	}
	p6 := netip.MustParsePrefix("fd00:64::5/128")
	a6 := AddrAttribute(p6)
	if a6.Type != AttrInternalIP6Address || len(a6.Value) != 17 || a6.Value[16] != 128 {
		t.Fatalf("AddrAttribute(%v) = %v", p6, a6)
	}
	if got, ok := a6.Prefix(); !ok || got != p6 {
		t.Errorf("Prefix() = %v %v, want %v", got, ok, p6)
	}
	if got, ok := a6.Addr(); !ok || got != p6.Addr() {
		t.Errorf("Addr() = %v %v, want %v", got, ok, p6.Addr())
	}
	if _, ok := ConfigRequest(AttrInternalIP4Address).Addr(); ok {
		t.Error("an empty request has an address")
	}
	sub := ConfigAttribute{Type: AttrInternalIP4Subnet, Value: []byte{10, 1, 0, 0, 255, 255, 0, 0}}
	if got, ok := sub.Prefix(); !ok || got != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("subnet Prefix() = %v %v", got, ok)
	}
	holey := ConfigAttribute{Type: AttrInternalIP4Subnet, Value: []byte{10, 1, 0, 0, 255, 0, 255, 0}}
	if got, ok := holey.Prefix(); ok {
		t.Errorf("a non-contiguous netmask gave %v", got)
	}
	cfg := &Config{CFGType: CFGRequest, Attributes: []ConfigAttribute{ConfigRequest(AttrInternalIP4Address), ConfigRequest(AttrInternalIP4DNS)}}
	if !cfg.Has(AttrInternalIP4DNS) || cfg.Has(AttrInternalIP6Address) || len(cfg.Find(AttrInternalIP4Address)) != 1 {
		t.Errorf("Has/Find wrong on %v", cfg.Attributes)
	}
	for _, tc := range []struct {
		s    string
		want string
	}{
		{a.String(), "INTERNAL_IP4_ADDRESS=100.64.0.9"},
		{a6.String(), "INTERNAL_IP6_ADDRESS=fd00:64::5/128"},
		{ConfigRequest(AttrInternalIP6DNS).String(), "INTERNAL_IP6_DNS(request)"},
		{CFGReply.String(), "CFG_REPLY"},
		{CFGType(9).String(), "CFG type 9"},
	} {
		if tc.s != tc.want {
			t.Errorf("got %q, want %q", tc.s, tc.want)
		}
	}
}

// FuzzConfigPayload feeds CP payload bodies to the parser: it must never
// panic, and what it accepts must re-encode to a payload that parses to
// the same.
func FuzzConfigPayload(f *testing.F) {
	f.Add(cpBody(CFGRequest, attr(1), attr(8)))
	f.Add(cpBody(CFGReply, attr(1, 100, 64, 0, 1), attr(8, append(make([]byte, 16), 64)...), attr(13, 10, 0, 0, 0, 255, 0, 0, 0)))
	f.Add(cpBody(CFGAck, attr(0xffff, 1)))
	f.Add([]byte{2, 0, 0, 0, 0, 1, 0, 9})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 0xffff-4 {
			return
		}
		m, err := ParseMessage(rawMessage(PayloadCP, body))
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			return
		}
		cfg := m.Get(PayloadCP).(*Config)
		for _, a := range cfg.Attributes {
			_ = a.String()
			if p, ok := a.Prefix(); ok && !p.IsValid() {
				t.Fatalf("%v: invalid prefix %v", a, p)
			}
		}
		checkReencode(t, m.Header, m.Payloads)
	})
}
