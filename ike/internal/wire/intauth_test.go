package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// testCipher is a framing-only Cipher: an 8-octet IV, the plaintext padded
// to 8-octet blocks with the Pad Length octet (RFC 7296 §3.14), in clear,
// and a 16-octet ICV over aad and the rest. It lets the tests see that
// IntAuth leaves out the IV, the padding and the ICV.
type testCipher struct{}

const testIVLen, testICVLen = 8, 16

func (testCipher) padded(n int) int { return (n + 1 + 7) / 8 * 8 }

func (c testCipher) SealedLen(n int) int { return testIVLen + c.padded(n) + testICVLen }

func (c testCipher) Seal(aad, pt []byte) ([]byte, error) {
	out := append([]byte(nil), aad...)
	out = append(out, bytes.Repeat([]byte{0xee}, testIVLen)...)
	out = append(out, pt...)
	pad := c.padded(len(pt)) - len(pt) - 1
	out = append(out, bytes.Repeat([]byte{0xaa}, pad)...)
	out = append(out, byte(pad))
	sum := sha256.Sum256(out)
	return append(out, sum[:testICVLen]...), nil
}

func (testCipher) Open(what string, aad, body []byte) ([]byte, error) {
	if len(body) < testIVLen+1+testICVLen {
		return nil, errors.New(what + ": short")
	}
	sum := sha256.Sum256(append(append([]byte(nil), aad...), body[:len(body)-testICVLen]...))
	if !bytes.Equal(sum[:testICVLen], body[len(body)-testICVLen:]) {
		return nil, errors.New(what + ": integrity")
	}
	pt := body[testIVLen : len(body)-testICVLen]
	pad := int(pt[len(pt)-1])
	return pt[:len(pt)-1-pad], nil
}

// intermediateRequest is an IKE_INTERMEDIATE request as RFC 9370 sends
// it: one KE payload with an ML-KEM-768-sized encapsulation key.
func intermediateRequest() *Message {
	key := make([]byte, 1184)
	for i := range key {
		key[i] = byte(i)
	}
	return &Message{
		Header:   Header{SPIi: SPI{1, 2, 3, 4, 5, 6, 7, 8}, SPIr: SPI{9, 10, 11, 12, 13, 14, 15, 16}, Exchange: IKEIntermediate, Flags: FlagInitiator, MessageID: 1},
		Payloads: []Payload{&KE{Group: DHMLKEM768, Data: key}},
	}
}

// wantIntAuth builds IntAuth_*A | IntAuth_*P by hand from the datagram of
// an unfragmented message: its first 32 octets (header and SK header) with
// Length = 32 + len(P) and Payload Length = 4 + len(P), then P.
func wantIntAuth(t *testing.T, datagram []byte, m *Message) []byte {
	t.Helper()
	p, _, err := marshalPayloads(m.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	a := append([]byte(nil), datagram[:32]...)
	binary.BigEndian.PutUint32(a[24:], uint32(32+len(p)))
	binary.BigEndian.PutUint16(a[30:], uint16(4+len(p)))
	return append(a, p...)
}

// TestIntAuthOctets checks RFC 9242 §3.3.2's data to authenticate, as the
// sender and as the receiver, for one datagram and for a fragmented
// message, which counts as the message it was split from.
func TestIntAuthOctets(t *testing.T) {
	c := testCipher{}
	sent := intermediateRequest()
	datagram, err := sent.MarshalEncrypted(c)
	if err != nil {
		t.Fatal(err)
	}
	want := wantIntAuth(t, datagram, sent)
	if want[16] != byte(PayloadSK) || want[28] != byte(PayloadKE) || binary.BigEndian.Uint32(want[24:]) == uint32(len(datagram)) {
		t.Fatalf("hand-built octets look wrong: %x", want[:36])
	}
	got, err := sent.IntAuthOctets()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("sender's IntAuth octets (%v):\n%x\nwant\n%x", err, got[:36], want[:36])
	}

	// The parts: A (header, Encrypted payload header) and P apart; the
	// caller may append to A without touching the message.
	a, p, err := sent.IntAuthParts()
	if err != nil || len(a) != HeaderLen+genericHeaderLen || !bytes.Equal(append(a, p...), want) {
		t.Fatalf("sender's IntAuth parts (%v): A of %d octets, A|P equal: %v", err, len(a), bytes.Equal(append(a, p...), want))
	}
	clear(a)
	_ = append(p, 0xff)
	if got, err := sent.IntAuthOctets(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("IntAuth octets after the parts were written to (%v)", err)
	}

	rcvd, err := ParseMessage(datagram)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rcvd.IntAuthOctets(); err == nil {
		t.Error("IntAuth octets of a message still encrypted")
	}
	if err := rcvd.Decrypt(c); err != nil {
		t.Fatal(err)
	}
	if got, err := rcvd.IntAuthOctets(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("receiver's IntAuth octets differ from the sender's (%v)", err)
	}

	frag := intermediateRequest()
	datagrams, err := frag.MarshalFragments(c, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(datagrams) < 3 {
		t.Fatalf("%d fragments, want at least 3 of 500 octets for a 1,184-octet key", len(datagrams))
	}
	if got, err := frag.IntAuthOctets(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("fragmented sender's IntAuth octets are not those of the whole message (%v)", err)
	}
	var r Reassembler
	var whole *Message
	for i, d := range datagrams {
		f, err := ParseMessage(d)
		if err != nil {
			t.Fatal(err)
		}
		whole, err = r.Add(f, c)
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
	}
	if whole == nil {
		t.Fatal("not reassembled")
	}
	if got, err := whole.IntAuthOctets(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("reassembled message's IntAuth octets are not those of the whole message (%v)", err)
	}

	if _, err := intermediateRequest().IntAuthOctets(); err == nil {
		t.Error("IntAuth octets of a message never encrypted")
	}
}

// sealRaw protects arbitrary inner octets as one SK datagram (fragments
// == 0) or as SKF fragments of at most chunk octets of plaintext each, with
// first as the type of the first inner payload. Unlike MarshalEncrypted
// and MarshalFragments it does not need the octets to parse, so that the
// receiver's side can be fuzzed with anything a peer may send.
func sealRaw(t *testing.T, h Header, first PayloadType, inner []byte, chunk int) [][]byte {
	t.Helper()
	c := testCipher{}
	seal := func(next, kind PayloadType, part []byte, extra []byte) []byte {
		total := HeaderLen + genericHeaderLen + len(extra) + c.SealedLen(len(part))
		b := cryptobyte.NewBuilder(nil)
		h.marshal(b, kind, total)
		b.AddUint8(uint8(next))
		b.AddUint8(0)
		b.AddUint16(uint16(total - HeaderLen))
		b.AddBytes(extra)
		aad, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Seal(aad, part)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if chunk <= 0 {
		return [][]byte{seal(first, PayloadSK, inner, nil)}
	}
	n := max(1, (len(inner)+chunk-1)/chunk)
	var out [][]byte
	for i := 0; i < n; i++ {
		next := PayloadNone
		if i == 0 {
			next = first
		}
		part := inner[min(i*chunk, len(inner)):min((i+1)*chunk, len(inner))]
		out = append(out, seal(next, PayloadSKF, part, binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(i+1)), uint16(n))))
	}
	return out
}

// FuzzIntAuthOctets sends arbitrary inner octets, whole and in fragments,
// as an IKE_INTERMEDIATE message. Whatever comes in, nothing panics; the
// whole message decrypts exactly when its reassembled fragments do; and
// when it does, IntAuth_*A | IntAuth_*P is the header and SK header with
// the lengths of the unprotected message, then the inner octets exactly as
// received, never our re-encoding of them (RFC 9242 §3.3.2: both peers
// must hash the same octets, whatever either one's encoder would make).
func FuzzIntAuthOctets(f *testing.F) {
	c := testCipher{}
	req := intermediateRequest()
	inner, first, err := marshalPayloads(req.Payloads)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(first), inner, uint16(0), false)
	f.Add(uint8(first), inner, uint16(400), false)
	f.Add(uint8(first), inner, uint16(400), true)
	f.Add(uint8(first), inner[:100], uint16(1), false)
	// A KE of ML-KEM-1024's length, with a notify after it.
	ke, first2, err := marshalPayloads([]Payload{&KE{Group: DHMLKEM1024, Data: make([]byte, 1568)}, &Notify{NotifyType: NotifyIntermediateExchangeSupported}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(first2), ke, uint16(500), true)
	f.Add(uint8(PayloadNone), []byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, first uint8, inner []byte, chunk uint16, reverse bool) {
		if len(inner) > 8000 {
			return
		}
		h := req.Header
		whole := sealRaw(t, h, PayloadType(first), inner, 0)[0]
		m, err := ParseMessage(whole)
		if err != nil {
			t.Fatalf("the SK message does not parse: %v", err)
		}
		errWhole := m.Decrypt(c)
		want := append([]byte(nil), whole[:32]...)
		binary.BigEndian.PutUint32(want[24:], uint32(32+len(inner)))
		binary.BigEndian.PutUint16(want[30:], uint16(4+len(inner)))
		want = append(want, inner...)
		if errWhole == nil {
			got, err := m.IntAuthOctets()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("IntAuth octets of the whole message (%v)\n got %x\nwant %x", err, got, want)
			}
		}
		if chunk == 0 {
			return
		}
		frags := sealRaw(t, h, PayloadType(first), inner, int(chunk))
		if len(frags) > MaxFragments {
			return
		}
		if reverse {
			slices.Reverse(frags)
		}
		var r Reassembler
		var done *Message
		var errFrag error
		for _, d := range frags {
			fm, err := ParseMessage(d)
			if err != nil {
				t.Fatalf("an SKF fragment does not parse: %v", err)
			}
			if done, errFrag = r.Add(fm, c); errFrag != nil {
				break
			}
		}
		if (errWhole == nil) != (errFrag == nil && done != nil) {
			t.Fatalf("whole: %v; fragmented: %v (reassembled %v)", errWhole, errFrag, done != nil)
		}
		if done != nil {
			got, err := done.IntAuthOctets()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("IntAuth octets of the reassembled message (%v)\n got %x\nwant %x", err, got, want)
			}
			if payloadTypes(done.Payloads) != payloadTypes(m.Payloads) {
				t.Fatalf("reassembled payloads %s, whole %s", payloadTypes(done.Payloads), payloadTypes(m.Payloads))
			}
		}
	})
}
