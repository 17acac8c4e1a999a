package wire

import (
	"bytes"
	"testing"
)

// TestMarshalPayloadLengthLimit checks the edge of a payload's 16-bit
// length, which counts the generic header: a body of 65,531 octets fits,
// one more does not, wherever the payload sits in the chain.
func TestMarshalPayloadLengthLimit(t *testing.T) {
	for _, n := range []int{0xffff - genericHeaderLen, 0xffff - genericHeaderLen + 1} {
		for _, at := range []int{0, 1} {
			ps := []Payload{&Nonce{Data: make([]byte, 32)}}
			ps = append(ps[:at], append([]Payload{&VendorID{Data: make([]byte, n)}}, ps[at:]...)...)
			raw, _, err := marshalPayloads(ps)
			if fits := n+genericHeaderLen <= 0xffff; fits != (err == nil) {
				t.Errorf("body of %d octets, payload %d: %v", n, at, err)
				continue
			}
			if err != nil {
				continue
			}
			got, err := parsePayloads(ps[0].Type(), raw, 0, false)
			if err != nil || len(got) != 2 || len(got[at].(*VendorID).Data) != n {
				t.Errorf("body of %d octets, payload %d: parsed back %d payloads, %v", n, at, len(got), err)
			}
		}
	}
}

// TestMarshalOneBuffer checks that Message.Marshal writes the header and
// every payload into one buffer: the payloads are not encoded in child
// builders, nor copied behind the header afterwards, so a message of a
// dozen payloads costs the same allocations as one of a single payload.
func TestMarshalOneBuffer(t *testing.T) {
	allocs := func(n int) float64 {
		m := &Message{Header: Header{SPIi: SPI{1}, Exchange: IKESAInit, Flags: FlagInitiator}}
		for range n {
			m.Payloads = append(m.Payloads, &Notify{NotifyType: NotifyFragmentationSupported}, &Nonce{Data: make([]byte, 8)})
		}
		return testing.AllocsPerRun(50, func() {
			if _, err := m.Marshal(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if one, many := allocs(1), allocs(6); one > 2 || many != one {
		t.Errorf("Marshal: %v allocations for 2 payloads, %v for 12: want at most 2 for either", one, many)
	}
}

// TestMarshalChainLongerThanTracked checks a chain longer than maxChain:
// its offsets no longer fit the array on the stack, and every length must
// still be right.
func TestMarshalChainLongerThanTracked(t *testing.T) {
	m := &Message{Header: Header{SPIi: SPI{1}, Exchange: IKEAuth}}
	for i := range maxChain + 3 {
		m.Payloads = append(m.Payloads, &VendorID{Data: bytes.Repeat([]byte{byte(i)}, i+1)})
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Payloads) != len(m.Payloads) {
		t.Fatalf("%d payloads back, want %d", len(got.Payloads), len(m.Payloads))
	}
	for i, p := range got.Payloads {
		if d := p.(*VendorID).Data; !bytes.Equal(d, bytes.Repeat([]byte{byte(i)}, i+1)) {
			t.Errorf("payload %d: %x", i, d)
		}
	}
}
