package wire

import (
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func marshalSA(sa *SA) ([]byte, error) {
	b := cryptobyte.NewBuilder(nil)
	sa.marshalBody(b)
	return b.Bytes()
}

// TestSAMarshalOctets pins the octets of an SA payload's body: proposal
// and transform lengths count their own headers, attributes in TV and in
// TLV form, and the "last substruc" markers.
func TestSAMarshalOctets(t *testing.T) {
	sa := &SA{Proposals: []Proposal{
		{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
			{Type: TransformENCR, ID: 20, KeyLength: 256},
			{Type: TransformESN, ID: 0},
		}},
		{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 17, TV: true, Value: []byte{0, 9}}, {Type: 18, Value: []byte("var")}}},
		}},
	}}
	want := "" +
		"02000020" + "01030402" + "01020304" + // proposal 1 of 32 octets, more follow
		"0300000c" + "01000014" + "800e0100" + // ENCR 20, key length 256
		"00000008" + "05000000" + // ESN none, the last transform
		"0000001b" + "02010001" + // proposal 2 of 27 octets, the last
		"00000013" + "02000005" + "80110009" + "00120003" + hex.EncodeToString([]byte("var"))
	got, err := marshalSA(sa)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("SA body\n got %x\nwant %s", got, want)
	}
}

// TestSAMarshalErrors checks that a proposal that cannot be encoded is
// refused, not written with a wrapped length.
func TestSAMarshalErrors(t *testing.T) {
	for name, sa := range map[string]*SA{
		"no proposals":     {},
		"TV of 3 octets":   {Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 17, TV: true, Value: []byte{1, 2, 3}}}}}}}},
		"TLV of 64 KiB":    {Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 18, Value: make([]byte, 0x10000)}}}}}}},
		"transform of 64K": {Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 18, Value: make([]byte, 0xfff8)}}}}}}},
		"proposal of 64K": {Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 18, Value: make([]byte, 0x8000)}}},
			{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 18, Value: make([]byte, 0x8000)}}},
		}}}},
	} {
		if b, err := marshalSA(sa); err == nil {
			t.Errorf("%s: encoded as %d octets, want an error", name, len(b))
		}
	}
}

// TestSAMarshalNoAllocs checks that an SA payload is written into its
// builder without an allocation per proposal or transform: a builder with
// room allocates nothing for our whole default IKE offer.
func TestSAMarshalNoAllocs(t *testing.T) {
	sa := &SA{Proposals: ikeProposals()}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(50, func() {
		b := cryptobyte.NewFixedBuilder(buf[:0])
		sa.marshalBody(b)
		if _, err := b.Bytes(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the cryptobyte.Builder itself
		t.Errorf("SA payload of %d proposals: %v allocations, want at most 1", len(sa.Proposals), allocs)
	}
}

// TestParseSAOneListOfProposals checks that an SA payload's proposals are
// parsed into a list made once: one allocation for the payload, one for
// the list and one per proposal (its transforms), whatever the count.
func TestParseSAOneListOfProposals(t *testing.T) {
	for _, n := range []int{1, 2, 4, 9} {
		sa := &SA{}
		for i := range n {
			sa.Proposals = append(sa.Proposals, Proposal{Number: uint8(i + 1), Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4},
				Transforms: []Transform{{Type: TransformENCR, ID: 20, KeyLength: 256}, {Type: TransformESN}}})
		}
		body, err := marshalSA(sa)
		if err != nil {
			t.Fatal(err)
		}
		if got := countProposals(body); got != n {
			t.Errorf("%d proposals counted as %d", n, got)
		}
		var p Payload
		allocs := testing.AllocsPerRun(50, func() {
			if p, err = parseSA(PayloadSA, body); err != nil {
				t.Fatal(err)
			}
		})
		if want := float64(2 + 2*n); allocs > want { // a proposal's SPI and its transforms
			t.Errorf("%d proposals: %v allocations, want at most %v", n, allocs, want)
		}
		if got := p.(*SA); len(got.Proposals) != n || got.Proposals[n-1].Number != uint8(n) {
			t.Errorf("%d proposals: parsed %+v", n, got.Proposals)
		}
	}
	for _, bad := range [][]byte{nil, {2}, {2, 0, 0, 0}, {2, 0, 0, 8, 0, 0, 0, 0}} {
		if n := countProposals(bad); n < 1 || n > maxProposals {
			t.Errorf("countProposals(%x) = %d, want 1 to %d", bad, n, maxProposals)
		}
	}
}
