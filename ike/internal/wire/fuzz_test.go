package wire

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/pcap"
)

// capturesDir holds real peers' IKE traffic (strongSwan, Libreswan, oemesh).
const capturesDir = "../../../testdata/captures"

// katDir holds the strongSwan 6.1 hybrid handshakes of ike's known-answer
// test.
const katDir = "../../testdata/kat"

// payloadTypes lists payload types, notifies by name, for failure messages.
func payloadTypes(ps []Payload) string {
	var s []string
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			s = append(s, "N("+n.NotifyType.String()+")")
			continue
		}
		s = append(s, p.Type().String())
	}
	return strings.Join(s, " ")
}

// addCaptureSeeds adds every IKE message of the captures as a seed,
// including the hybrid handshakes of ike's known-answer test.
func addCaptureSeeds(f *testing.F, add func(msg []byte)) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.pcap"))
	kat, _ := filepath.Glob(filepath.Join(katDir, "*.pcap"))
	if len(kat) == 0 {
		f.Fatalf("no known-answer captures in %s", katDir)
	}
	for _, path := range append(files, kat...) {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		ds, err := pcap.ReadUDP(fh)
		fh.Close()
		if err != nil {
			f.Fatal(err)
		}
		for _, d := range ds {
			b := d.Payload
			if d.Dst.Port() == 4500 {
				var k PortKind
				if b, k = Demux4500(b); k != KindIKE {
					continue
				}
			}
			add(b)
		}
	}
}

// FuzzParseMessage: decoding never panics; whatever decodes re-encodes
// to a message that decodes to the same payloads, and whose encoding is
// stable. (Reserved bits and fields are not kept, so the first encoding
// may differ from arbitrary input; TestCapturesParse checks that real
// peers' messages re-encode byte for byte.)
func FuzzParseMessage(f *testing.F) {
	addCaptureSeeds(f, func(b []byte) { f.Add(b) })
	all, _ := (&Message{Header: Header{Exchange: IKEAuth}, Payloads: samplePayloads()}).Marshal()
	f.Add(all)
	// IKE_INTERMEDIATE in clear, with a KE of each ML-KEM length: the
	// encapsulation keys and ciphertexts of ML-KEM-768 and ML-KEM-1024.
	for _, ke := range []struct {
		g DHGroup
		n int
	}{{DHMLKEM768, 1184}, {DHMLKEM768, 1088}, {DHMLKEM1024, 1568}} {
		m := &Message{Header: Header{Exchange: IKEIntermediate, MessageID: 1}, Payloads: []Payload{&KE{Group: ke.g, Data: bytes.Repeat([]byte{0x5a}, ke.n)}}}
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		checkReencode(t, m.Header, m.Payloads)
	})
}

// checkReencode encodes payloads, parses them back, compares, and checks
// that a second encoding is identical to the first.
func checkReencode(t *testing.T, h Header, ps []Payload) {
	t.Helper()
	out, err := (&Message{Header: h, Payloads: ps}).Marshal()
	if err != nil {
		t.Fatalf("parsed payloads do not re-encode: %v", err)
	}
	m2, err := ParseMessage(out)
	if err != nil {
		t.Fatalf("re-encoded message does not parse: %v", err)
	}
	if len(m2.Payloads) != len(ps) {
		t.Fatalf("payloads changed: %s -> %s", payloadTypes(ps), payloadTypes(m2.Payloads))
	}
	for i := range ps {
		a, b := normalize(ps[i]), normalize(m2.Payloads[i])
		clearAAD(a)
		clearAAD(b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("payload %d changed:\n%#v\n%#v", i, a, b)
		}
	}
	out2, err := (&Message{Header: m2.Header, Payloads: m2.Payloads}).Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("encoding not stable (%v):\n%x\n%x", err, out, out2)
	}
}

func clearAAD(p Payload) {
	switch p := p.(type) {
	case *Encrypted:
		p.aad = nil
	case *EncryptedFragment:
		p.aad = nil
	}
}

// FuzzReassembly feeds a stream of fragment records (message ID, number,
// total, length, data) into a bounded Reassembler: no panic, the limits
// hold, and completed messages hold exactly what was fed.
func FuzzReassembly(f *testing.F) {
	rec := func(mid uint32, n, total uint16, data string) []byte {
		b := binary.BigEndian.AppendUint32(nil, mid)
		b = binary.BigEndian.AppendUint16(b, n)
		b = binary.BigEndian.AppendUint16(b, total)
		b = append(b, byte(len(data)))
		return append(b, data...)
	}
	f.Add(append(rec(1, 1, 2, "ab"), rec(1, 2, 2, "cd")...))
	f.Add(append(append(rec(1, 2, 3, "b"), rec(1, 1, 2, "a")...), rec(1, 3, 3, "c")...))
	f.Add(append(rec(1, 1, 200, "x"), rec(2, 1, 1, "y")...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := Reassembler{MaxFragments: 16, MaxBytes: 512}
		for len(stream) >= 9 {
			mid := binary.BigEndian.Uint32(stream)
			n, total := binary.BigEndian.Uint16(stream[4:]), binary.BigEndian.Uint16(stream[6:])
			l := min(int(stream[8]), len(stream)-9)
			data := stream[9 : 9+l]
			stream = stream[9+l:]
			done, err := r.AddFragment(mid, n, total, PayloadType(n), data)
			if r.bytes > 512 || r.have > 16 || len(r.frags) > 16 {
				t.Fatalf("limits broken: %d bytes, %d fragments", r.bytes, r.have)
			}
			if err != nil {
				continue
			}
			if done {
				_, out := r.Assembled()
				if len(out) != r.bytes {
					t.Fatalf("assembled %d octets, collected %d", len(out), r.bytes)
				}
				r.Reset()
			}
		}
	})
}

// FuzzTrafficSelectors: parsed selectors re-encode to the same octets.
func FuzzTrafficSelectors(f *testing.F) {
	for _, p := range samplePayloads() {
		if ts, ok := p.(*TSPayload); ok {
			b, _ := (&Message{Payloads: []Payload{ts}}).Marshal()
			f.Add(b[HeaderLen+4:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sel, err := ParseTrafficSelectors(body)
		if err != nil {
			return
		}
		b, err := (&Message{Payloads: []Payload{&TSPayload{Selectors: sel}}}).Marshal()
		if err != nil {
			t.Fatalf("parsed selectors do not encode: %v", err)
		}
		// Reserved octets are not kept; compare the rest.
		if !bytes.Equal(b[HeaderLen+8:], body[4:]) || b[HeaderLen+4] != body[0] {
			t.Fatalf("re-encoding differs:\n%x\n%x", body, b[HeaderLen+4:])
		}
	})
}

// FuzzIdentity: parsed identities re-encode exactly (bar reserved octets).
func FuzzIdentity(f *testing.F) {
	for _, p := range samplePayloads() {
		if id, ok := p.(*IDPayload); ok {
			f.Add(id.RestOfIDPayload())
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := ParseIdentity(body)
		if err != nil {
			return
		}
		out := id.RestOfIDPayload()
		if out[0] != body[0] || !bytes.Equal(out[4:], body[4:]) {
			t.Fatalf("re-encoding differs: %x -> %x", body, out)
		}
		_ = id.String()
	})
}
