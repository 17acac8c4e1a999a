package wire

import (
	"bytes"
	"testing"
)

// TestIntermediateExchangeSupported checks the RFC 9242 vocabulary: the
// notify's octets (type 16438, no SPI, no data) and the exchange's name and
// number in the header.
func TestIntermediateExchangeSupported(t *testing.T) {
	if got := NotifyIntermediateExchangeSupported.String(); got != "INTERMEDIATE_EXCHANGE_SUPPORTED" {
		t.Errorf("notify 16438 is named %q", got)
	}
	if NotifyIntermediateExchangeSupported.IsError() {
		t.Error("INTERMEDIATE_EXCHANGE_SUPPORTED is a status notify, not an error")
	}
	if got := IKEIntermediate.String(); got != "IKE_INTERMEDIATE" {
		t.Errorf("exchange 43 is named %q", got)
	}

	m := &Message{Header: Header{Exchange: IKESAInit, Flags: FlagInitiator}, Payloads: []Payload{
		&Notify{NotifyType: NotifyIntermediateExchangeSupported},
	}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Generic payload header (next NONE, length 8), protocol 0, SPI size 0,
	// type 0x4036.
	want := []byte{0, 0, 0, 8, 0, 0, 0x40, 0x36}
	if !bytes.Equal(b[28:], want) {
		t.Errorf("notify octets %x, want %x", b[28:], want)
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	n := got.Notify(NotifyIntermediateExchangeSupported)
	if n == nil || n.Protocol != 0 || len(n.SPI) != 0 || len(n.Data) != 0 {
		t.Errorf("parsed %+v, want the empty INTERMEDIATE_EXCHANGE_SUPPORTED notify", n)
	}

	h := &Message{Header: Header{Exchange: IKEIntermediate, Flags: FlagInitiator, MessageID: 1}}
	b, err = h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if b[18] != 43 {
		t.Errorf("IKE_INTERMEDIATE header carries exchange type %d, want 43", b[18])
	}
	ph, err := ParseHeader(b)
	if err != nil || ph.Exchange != IKEIntermediate || ph.MessageID != 1 {
		t.Errorf("parsed header %+v (%v), want IKE_INTERMEDIATE with message ID 1", ph, err)
	}
}
