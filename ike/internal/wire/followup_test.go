package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestFollowupKEVocabulary checks RFC 9370 §2.2.4's numbers and octets:
// IKE_FOLLOWUP_KE is exchange 44, ADDITIONAL_KEY_EXCHANGE is status notify
// 16441 without SPI carrying the link data, STATE_NOT_FOUND is error 47.
func TestFollowupKEVocabulary(t *testing.T) {
	if got := IKEFollowupKE.String(); got != "IKE_FOLLOWUP_KE" {
		t.Errorf("exchange 44 is named %q", got)
	}
	if NotifyAdditionalKeyExchange.IsError() || !NotifyStateNotFound.IsError() {
		t.Error("ADDITIONAL_KEY_EXCHANGE is a status, STATE_NOT_FOUND an error")
	}
	if NotifyAdditionalKeyExchange.String() != "ADDITIONAL_KEY_EXCHANGE" || NotifyStateNotFound.String() != "STATE_NOT_FOUND" {
		t.Errorf("names %q, %q", NotifyAdditionalKeyExchange, NotifyStateNotFound)
	}
	m := &Message{Header: Header{Exchange: IKEFollowupKE, Flags: FlagInitiator, MessageID: 7}, Payloads: []Payload{
		&Notify{NotifyType: NotifyAdditionalKeyExchange, Data: []byte{0xde, 0xad}},
	}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if b[18] != 44 {
		t.Errorf("header carries exchange type %d, want 44", b[18])
	}
	// Generic header (next NONE, length 10), protocol 0, SPI size 0, type
	// 0x4039, the data.
	want := []byte{0, 0, 0, 10, 0, 0, 0x40, 0x39, 0xde, 0xad}
	if !bytes.Equal(b[28:], want) {
		t.Errorf("notify octets %x, want %x", b[28:], want)
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Notify(NotifyAdditionalKeyExchange); n == nil || !bytes.Equal(n.Data, []byte{0xde, 0xad}) || got.Exchange != IKEFollowupKE {
		t.Errorf("parsed %+v", got)
	}

	// The link data is what the notify is for: an empty one is malformed.
	m.Payloads = []Payload{&Notify{NotifyType: NotifyAdditionalKeyExchange}}
	b, err = m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var se *SyntaxError
	if _, err := ParseMessage(b); !errors.As(err, &se) {
		t.Errorf("ADDITIONAL_KEY_EXCHANGE without data parsed: %v", err)
	}
}
