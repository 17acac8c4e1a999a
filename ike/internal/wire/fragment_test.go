package wire

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// TestReassemblerBounds checks the limits and the RFC 7383 §2.6.1 rules.
func TestReassemblerBounds(t *testing.T) {
	r := Reassembler{MaxFragments: 4, MaxBytes: 100}
	if _, err := r.AddFragment(1, 1, 5, PayloadIDi, []byte{1}); err == nil || !strings.Contains(err.Error(), "total fragments 5 exceeds limit 4") {
		t.Errorf("count limit: %v", err)
	}
	if _, err := r.AddFragment(1, 1, 2, PayloadIDi, make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddFragment(1, 2, 2, PayloadNone, make([]byte, 60)); err == nil || !strings.Contains(err.Error(), "exceed 100 octets") {
		t.Errorf("byte limit: %v", err)
	}
	// After the byte-limit failure everything was dropped.
	if done, err := r.AddFragment(1, 2, 2, PayloadNone, make([]byte, 10)); done || err != nil {
		t.Errorf("after reset: %v %v", done, err)
	}
	// More fragments announced: restart; fewer: ignore.
	var r2 Reassembler
	r2.AddFragment(3, 1, 2, PayloadIDr, []byte("a"))
	if done, _ := r2.AddFragment(3, 1, 3, PayloadIDr, []byte("A")); done {
		t.Fatal("done early")
	}
	if done, _ := r2.AddFragment(3, 2, 2, PayloadNone, []byte("b")); done {
		t.Fatal("smaller total completed the message")
	}
	r2.AddFragment(3, 2, 3, PayloadNone, []byte("B"))
	if done, _ := r2.AddFragment(3, 3, 3, PayloadNone, []byte("C")); !done {
		t.Fatal("not done")
	}
	if first, data := r2.Assembled(); first != PayloadIDr || string(data) != "ABC" {
		t.Errorf("assembled %v %q", first, data)
	}
	var r3 Reassembler
	r3.AddFragment(3, 1, 2, PayloadIDr, []byte("a"))
	if _, err := r3.AddFragment(4, 2, 2, PayloadNone, []byte("b")); err == nil {
		t.Errorf("fragment of another message accepted")
	}
	for _, bad := range [][2]uint16{{0, 1}, {2, 1}, {1, 0}} {
		if _, err := r3.AddFragment(3, bad[0], bad[1], PayloadNone, nil); err == nil {
			t.Errorf("fragment %d/%d accepted", bad[0], bad[1])
		}
	}
}

// TestReassemblerOther: a reassembler is busy with one message ID at a
// time, and free again after Reset.
func TestReassemblerOther(t *testing.T) {
	var r Reassembler
	if r.Other(1) {
		t.Error("an empty reassembler is collecting another message")
	}
	r.AddFragment(7, 1, 2, PayloadIDi, []byte("a"))
	if r.Other(7) || !r.Other(8) {
		t.Errorf("collecting message 7: Other(7) = %v, Other(8) = %v", r.Other(7), r.Other(8))
	}
	r.Reset()
	if r.Other(8) {
		t.Error("after Reset the reassembler is collecting another message")
	}
}

// countedPayload is a Vendor ID payload that counts its encodings.
type countedPayload struct {
	VendorID
	n *int
}

func (p *countedPayload) marshalBody(b *cryptobyte.Builder) {
	*p.n++
	p.VendorID.marshalBody(b)
}

// TestMarshalFragmentsEncodesOnce checks that a message that fits in one
// datagram is encoded once, not once to measure it and again to seal it,
// and comes out as MarshalEncrypted makes it.
func TestMarshalFragmentsEncodesOnce(t *testing.T) {
	var n int
	m := &Message{Header: Header{SPIi: SPI{1}, SPIr: SPI{2}, Exchange: IKEIntermediate, Flags: FlagInitiator, MessageID: 1},
		Payloads: []Payload{&countedPayload{VendorID{Data: []byte("oemesh")}, &n}}}
	pkts, err := m.MarshalFragments(testCipher{}, 1280)
	if err != nil || len(pkts) != 1 {
		t.Fatalf("%d datagrams, %v; want one", len(pkts), err)
	}
	if n != 1 {
		t.Errorf("payload encoded %d times, want once", n)
	}
	one, err := m.MarshalEncrypted(testCipher{})
	if err != nil || !bytes.Equal(one, pkts[0]) {
		t.Errorf("MarshalFragments' single datagram differs from MarshalEncrypted's (%v)", err)
	}
	if a, _, err := m.IntAuthParts(); err != nil || len(a) != HeaderLen+genericHeaderLen {
		t.Errorf("IntAuth after MarshalFragments: %v", err)
	}
}
