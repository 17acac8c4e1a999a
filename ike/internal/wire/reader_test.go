package wire

import (
	"reflect"
	"testing"
)

// TestParsedPayloadsAliasNothing checks that payloads parsed from a buffer
// keep nothing of it: the parsers read fixed fields (SPIs, addresses,
// RESERVED, key lengths) without copying, and must still copy every value
// they keep, TV attributes included.
func TestParsedPayloadsAliasNothing(t *testing.T) {
	ps := samplePayloads()
	raw, first, err := marshalPayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsePayloads(first, raw, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 0xa5
	}
	for i := range ps {
		if !reflect.DeepEqual(normalize(got[i]), normalize(ps[i])) {
			t.Errorf("payload %d (%v) changed with the buffer it was parsed from:\n got %#v\nwant %#v", i, ps[i].Type(), got[i], ps[i])
		}
	}
}

// TestParseHeaderNoAllocs checks that reading a header, which the engine
// does for every datagram before it knows whether to keep it, allocates
// nothing.
func TestParseHeaderNoAllocs(t *testing.T) {
	m := &Message{Header: Header{SPIi: SPI{1, 2, 3}, SPIr: SPI{4, 5, 6}, Exchange: IKEAuth, MessageID: 1}, Payloads: []Payload{&Nonce{Data: make([]byte, 32)}}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var h Header
	if allocs := testing.AllocsPerRun(100, func() {
		if h, err = ParseHeader(b); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("ParseHeader: %v allocations, want 0", allocs)
	}
	if h.SPIi != m.SPIi || h.SPIr != m.SPIr {
		t.Errorf("SPIs %x %x, want %x %x", h.SPIi, h.SPIr, m.SPIi, m.SPIr)
	}
}
