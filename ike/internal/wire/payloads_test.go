package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// samplePayloads has one or more instances of every payload type we
// build, with the corner cases of each.
func samplePayloads() []Payload {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	return []Payload{
		&SA{Proposals: ikeProposals()},
		&SA{Proposals: espProposals([]byte{1, 2, 3, 4})},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, SPI: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Transforms: []Transform{
			{Type: TransformENCR, ID: encrAESCBC, KeyLength: 256,
				Attributes: []TransformAttribute{{Type: 17, TV: true, Value: []byte{0, 9}}, {Type: 18, Value: []byte("var")}}},
		}}}},
		&KE{Group: DHCurve25519, Data: make([]byte, 32)},
		&IDPayload{Identity: AddrIdentity(v4)},
		&IDPayload{Responder: true, Identity: AddrIdentity(v6)},
		&IDPayload{Identity: FQDNIdentity("host.example.org")},
		&IDPayload{Identity: Identity{Type: IDRFC822Addr, Data: []byte("a@example.org")}},
		&IDPayload{Identity: Identity{Type: IDKeyID, Data: []byte{0xde, 0xad}}},
		&IDPayload{Responder: true, Identity: NullIdentity()},
		&Cert{Encoding: 4, Data: []byte{0x30, 0x00}},
		&Cert{Request: true, Encoding: 4, Data: make([]byte, 20)},
		&Auth{Method: AuthSharedKey, Data: make([]byte, 32)},
		&Nonce{Data: make([]byte, 32)},
		&Notify{NotifyType: NotifyFragmentationSupported},
		&Notify{Protocol: ProtocolESP, SPI: []byte{9, 9, 9, 9}, NotifyType: NotifyRekeySA},
		&Notify{NotifyType: NotifySignatureHashAlgorithms, Data: []byte{0, 2, 0, 3, 0, 4, 0, 5}},
		InvalidKENotify(DHECP256),
		&Delete{Protocol: ProtocolIKE},
		&Delete{Protocol: ProtocolESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		&VendorID{Data: VendorIDOpportunisticIPsec},
		&TSPayload{Selectors: []TrafficSelector{HostSelector(v4), {Type: TSIPv4AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500,
			Start: netip.MustParseAddr("198.51.100.0"), End: netip.MustParseAddr("198.51.100.255")}}},
		&TSPayload{Responder: true, Selectors: []TrafficSelector{HostSelector(v6), {Type: 10, IPProtocol: 0, Raw: []byte{1, 2, 3, 4}}}},
		&Config{CFGType: 1, Attributes: []ConfigAttribute{{Type: 1}, {Type: 3, Value: []byte{192, 0, 2, 53}}}},
		&UnknownPayload{PayloadType: 200, Body: []byte("opaque")},
	}
}

// Transform IDs of the sample proposals (their types live in ike).
const (
	encrAESCBC   = 12
	encrAESGCM16 = 20
	encrChaCha20 = 28
	prfSHA256    = 5
	prfSHA384    = 6
	prfSHA512    = 7
	integSHA256  = 12
	integSHA384  = 13
	integSHA512  = 14
)

// ikeProposals is what ike's default IKE policy offers with an X25519 KE:
// an AEAD proposal and one with separate integrity, every DH group.
func ikeProposals() []Proposal {
	var dh []Transform
	for _, g := range []DHGroup{DHCurve25519, DHECP256, DHECP384, DHECP521, DHMODP2048, DHMODP3072, DHMODP4096} {
		dh = append(dh, Transform{Type: TransformDH, ID: uint16(g)})
	}
	prf := []Transform{{Type: TransformPRF, ID: prfSHA256}, {Type: TransformPRF, ID: prfSHA512}, {Type: TransformPRF, ID: prfSHA384}}
	aead := []Transform{{Type: TransformENCR, ID: encrAESGCM16, KeyLength: 256}, {Type: TransformENCR, ID: encrChaCha20},
		{Type: TransformENCR, ID: encrAESGCM16, KeyLength: 128}}
	cbc := []Transform{{Type: TransformENCR, ID: encrAESCBC, KeyLength: 256}, {Type: TransformENCR, ID: encrAESCBC, KeyLength: 128}}
	integ := []Transform{{Type: TransformINTEG, ID: integSHA256}, {Type: TransformINTEG, ID: integSHA512}, {Type: TransformINTEG, ID: integSHA384}}
	return []Proposal{
		{Number: 1, Protocol: ProtocolIKE, Transforms: slices.Concat(aead, prf, dh)},
		{Number: 2, Protocol: ProtocolIKE, Transforms: slices.Concat(cbc, prf, integ, dh)},
	}
}

// espProposals is what ike's default ESP policy offers without PFS.
func espProposals(spi []byte) []Proposal {
	esn := []Transform{{Type: TransformESN, ID: 1}, {Type: TransformESN, ID: 0}}
	return []Proposal{
		{Number: 1, Protocol: ProtocolESP, SPI: spi, Transforms: slices.Concat([]Transform{{Type: TransformENCR, ID: encrAESGCM16, KeyLength: 256},
			{Type: TransformENCR, ID: encrChaCha20}, {Type: TransformENCR, ID: encrAESGCM16, KeyLength: 128}}, esn)},
		{Number: 2, Protocol: ProtocolESP, SPI: spi, Transforms: slices.Concat([]Transform{{Type: TransformENCR, ID: encrAESCBC, KeyLength: 256},
			{Type: TransformENCR, ID: encrAESCBC, KeyLength: 128}, {Type: TransformINTEG, ID: integSHA256},
			{Type: TransformINTEG, ID: integSHA512}, {Type: TransformINTEG, ID: integSHA384}}, esn)},
	}
}

// TestPayloadRoundTrip encodes each payload alone and all of them in one
// message, and parses them back unchanged.
func TestPayloadRoundTrip(t *testing.T) {
	all := samplePayloads()
	check := func(name string, ps []Payload) {
		m := &Message{Header: Header{SPIi: SPI{1}, SPIr: SPI{2}, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 7}, Payloads: ps}
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("%s: marshal: %v", name, err)
		}
		got, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		if got.Length != uint32(len(b)) || got.MessageID != 7 || got.SPIr != (SPI{2}) || got.MajorVersion != 2 {
			t.Errorf("%s: header %+v", name, got.Header)
		}
		if len(got.Payloads) != len(ps) {
			t.Fatalf("%s: %d payloads back, want %d", name, len(got.Payloads), len(ps))
		}
		for i := range ps {
			if !reflect.DeepEqual(normalize(got.Payloads[i]), normalize(ps[i])) {
				t.Errorf("%s: payload %d (%v)\n got %#v\nwant %#v", name, i, ps[i].Type(), got.Payloads[i], ps[i])
			}
		}
		b2, err := (&Message{Header: got.Header, Payloads: got.Payloads}).Marshal()
		if err != nil || string(b2) != string(b) {
			t.Errorf("%s: second encoding differs", name)
		}
	}
	for _, p := range all {
		check(p.Type().String(), []Payload{p})
	}
	check("all", all)
}

// normalize maps empty slices to nil so parsed and built payloads compare.
func normalize(p Payload) Payload {
	v := reflect.ValueOf(p).Elem()
	out := reflect.New(v.Type())
	out.Elem().Set(v)
	normValue(out.Elem())
	return out.Interface().(Payload)
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		for i := 0; i < n.Len(); i++ {
			normValue(n.Index(i))
		}
		if v.CanSet() {
			v.Set(n)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normValue(v.Field(i))
			}
		}
	}
}

func TestUnknownPayloads(t *testing.T) {
	m := &Message{Header: Header{Exchange: IKESAInit, Flags: FlagInitiator}, Payloads: []Payload{
		&Nonce{Data: make([]byte, 16)},
		&UnknownPayload{PayloadType: 250, Body: []byte{1}},
		&Notify{NotifyType: NotifyFragmentationSupported},
	}}
	b, _ := m.Marshal()
	got, err := ParseMessage(b)
	if err != nil || len(got.Payloads) != 3 || got.Notify(NotifyFragmentationSupported) == nil {
		t.Fatalf("non-critical unknown payload: %v", err)
	}
	m.Payloads[1] = &UnknownPayload{PayloadType: 250, Critical: true, Body: []byte{1}}
	b, _ = m.Marshal()
	got, err = ParseMessage(b)
	var crit *UnsupportedCriticalPayloadError
	if !errors.As(err, &crit) || crit.Type != 250 {
		t.Fatalf("critical unknown payload: %v", err)
	}
	if got == nil || got.Exchange != IKESAInit {
		t.Errorf("header not returned with the critical-payload error")
	}
	if n := crit.Notify(); n.NotifyType != NotifyUnsupportedCriticalPayload || len(n.Data) != 1 || n.Data[0] != 250 {
		t.Errorf("notify %+v", n)
	}
}

// sa builds a message holding one raw SA payload body.
func rawMessage(t PayloadType, body []byte) []byte {
	b := make([]byte, HeaderLen+4+len(body))
	b[16] = byte(t)
	b[17] = 0x20
	b[18] = byte(IKESAInit)
	b[19] = byte(FlagInitiator)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(4+len(body)))
	copy(b[HeaderLen+4:], body)
	return b
}

// TestParseErrors checks that malformed input is refused with an error
// naming the payload and the field, and as a *SyntaxError.
func TestParseErrors(t *testing.T) {
	transform := func(last byte, attrs []byte) []byte {
		b := []byte{last, 0, 0, 0, byte(TransformENCR), 0, 0, 20}
		b = append(b, attrs...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	proposal := func(last, num byte, ts ...[]byte) []byte {
		b := []byte{last, 0, 0, 0, num, 1, 0, byte(len(ts))}
		for _, x := range ts {
			b = append(b, x...)
		}
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	good := transform(0, nil)
	badAttr := transform(0, []byte{0x00, 0x11, 0x00, 0x09, 1, 2, 3, 4}) // variable attribute claims 9, has 4
	saBody := append(proposal(2, 1, good), proposal(0, 2, transform(3, nil), transform(3, nil), badAttr)...)

	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"attribute", rawMessage(PayloadSA, saBody), "ike: SA payload: proposal 2: transform 3: attribute 1: attribute length 9 exceeds remaining 4"},
		// A field of an attribute that does not fit is named with the
		// attribute's number (the key length first, then the cut one).
		{"attribute type", rawMessage(PayloadSA, proposal(0, 1, transform(3, []byte{0x80, 0x0e, 0x01, 0x00, 0x00}))), "ike: SA payload: proposal 1: transform 1: attribute 2: type: need 2 octets, have 1"},
		{"attribute TV value", rawMessage(PayloadSA, proposal(0, 1, transform(3, []byte{0x80, 0x0e, 0x01}))), "ike: SA payload: proposal 1: transform 1: attribute 1: value: need 2 octets, have 1"},
		{"attribute TLV length", rawMessage(PayloadSA, proposal(0, 1, transform(3, []byte{0x80, 0x0e, 0x01, 0x00, 0x00, 0x11, 0x00}))), "ike: SA payload: proposal 1: transform 1: attribute 2: length: need 2 octets, have 1"},
		{"proposal length", rawMessage(PayloadSA, []byte{0, 0, 0x10, 0, 1, 1, 0, 0}), "ike: SA payload: proposal 1: proposal length 4096 exceeds remaining 8"},
		{"transform not last", rawMessage(PayloadSA, proposal(0, 1, transform(3, nil))), "ike: SA payload: proposal 1: transform 1: last of 1 transforms not marked last"},
		{"transform count", rawMessage(PayloadSA, proposal(0, 1, transform(0, nil), transform(0, nil))), "ike: SA payload: proposal 1: transform 1: marked last but proposal declares 2 transforms"},
		{"proposal not last", rawMessage(PayloadSA, proposal(2, 1, good)), "ike: SA payload: proposal 1: not marked last but nothing follows"},
		{"KE", rawMessage(PayloadKE, []byte{0, 31}), "ike: KE payload: reserved: need 2 octets, have 0"},
		{"ID v4", rawMessage(PayloadIDi, []byte{1, 0, 0, 0, 10, 0, 0}), "ike: IDi payload: identification data: 3 octets for ID_IPV4_ADDR, want 4"},
		{"nonce", rawMessage(PayloadNonce, make([]byte, 8)), "ike: Nonce payload: nonce length 8 outside 16..256"},
		{"notify SPI", rawMessage(PayloadNotify, []byte{3, 4, 0x40, 0x09, 1}), "ike: Notify payload: SPI: need 4 octets, have 1"},
		{"NAT-D", rawMessage(PayloadNotify, []byte{0, 0, 0x40, 0x04, 1, 2}), "ike: Notify payload: NAT_DETECTION_SOURCE_IP: notification data: 2 octets, want a 20-octet SHA-1 hash"},
		{"delete", rawMessage(PayloadDelete, []byte{3, 4, 0, 2, 1, 2, 3, 4}), "ike: Delete payload: 2 SPIs of 4 octets do not fill the remaining 4"},
		{"TS count", rawMessage(PayloadTSi, []byte{2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 255, 255, 1, 1, 1, 1, 1, 1, 1, 1}), "ike: TSi payload: selector 2: TS type: need 1 octets, have 0"},
		{"TS type length", rawMessage(PayloadTSr, []byte{1, 0, 0, 0, 7, 0, 0, 12, 0, 0, 255, 255, 1, 1, 1, 1}), "ike: TSr payload: selector 1: selector length 12 for type 7, want 16"},
		{"TS length", rawMessage(PayloadTSr, []byte{1, 0, 0, 0, 7, 0, 0, 40, 0, 0, 255, 255, 1, 1, 1, 1, 1, 1, 1, 1}), "ike: TSr payload: selector 1: selector length 40 outside 4..16"},
		{"SKF numbering", rawMessage(PayloadSKF, []byte{0, 3, 0, 2, 1, 2, 3}), "ike: SKF payload: fragment number 3 of total 2"},
		{"CP attribute", rawMessage(PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0, 8, 1}), "ike: CP payload: attribute 1: length 8 exceeds remaining 1"},
		{"payload length", func() []byte { b := rawMessage(PayloadNonce, make([]byte, 16)); b[HeaderLen+3] = 200; return b }(), "ike: Nonce payload (#1): payload length 200 exceeds remaining 20"},
		{"trailing", append(rawMessage(PayloadVendorID, nil)[:HeaderLen], []byte{0, 0, 0, 4, 9}...), "ike: header: length"},
		{"SK not last", func() []byte {
			b := rawMessage(PayloadSK, make([]byte, 30))
			b[HeaderLen+3] = 14
			return b
		}(), "ike: SK payload (#1): 20 octets follow; SK must be the last payload"},
	} {
		_, err := ParseMessage(tc.msg)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: %T is not a *SyntaxError", tc.name, err)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	b := rawMessage(PayloadNone, nil)[:HeaderLen]
	binary.BigEndian.PutUint32(b[24:], HeaderLen)
	if _, err := ParseMessage(b); err != nil {
		t.Fatalf("empty message: %v", err)
	}
	b[17] = 0x10
	var ve *VersionError
	if _, err := ParseMessage(b); !errors.As(err, &ve) || ve.Major != 1 {
		t.Errorf("IKEv1 header: %v", err)
	}
	if _, err := ParseMessage(b[:20]); err == nil || !strings.Contains(err.Error(), "ike: header: message ID") && !strings.Contains(err.Error(), "ike: header: length") {
		t.Errorf("short header: %v", err)
	}
}

// TestMarshalPayloadsNoGrowth checks that a chain of a typical message's
// size is encoded without growing the buffer: ten payloads of 40 octets
// allocate no more than ten of one.
func TestMarshalPayloadsNoGrowth(t *testing.T) {
	allocs := func(n int) float64 {
		var ps []Payload
		for range 10 {
			ps = append(ps, &Nonce{Data: make([]byte, n)})
		}
		return testing.AllocsPerRun(50, func() {
			if _, _, err := marshalPayloads(ps); err != nil {
				t.Fatal(err)
			}
		})
	}
	if small, large := allocs(1), allocs(40); large != small {
		t.Errorf("marshal: %v allocations for ten 1-octet payloads, %v for ten of 40: want the same", small, large)
	}
}
