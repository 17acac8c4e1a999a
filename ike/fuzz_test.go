package ike

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"github.com/oemesh/oemesh/internal/pcap"
)

var fuzzCiphers = func() []*SKCipher {
	var out []*SKCipher
	for _, s := range []IKESuite{skSuites[0], skSuites[2], skSuites[3]} {
		k, _ := s.DeriveIKEKeys(make([]byte, s.PRF.Size()), make([]byte, 16), make([]byte, 16), SPI{1}, SPI{2})
		c, _, _ := k.Ciphers()
		out = append(out, c)
	}
	return out
}()

// addCaptureSeeds adds every IKE message of the captures as a seed: the
// peers' captures, and the strongSwan 6.1 hybrid handshakes of the
// known-answer test (IKE_INTERMEDIATE, whole and in SKF fragments).
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
				var k wire.PortKind
				if b, k = wire.Demux4500(b); k != wire.KindIKE {
					continue
				}
			}
			add(b)
		}
	}
}

// marshalInner encodes a payload chain as it goes inside an SK payload:
// the octets after the IKE header, and the type of the first payload.
func marshalInner(ps []wire.Payload) ([]byte, wire.PayloadType, error) {
	m := &wire.Message{Payloads: ps}
	b, err := m.Marshal()
	if err != nil {
		return nil, 0, err
	}
	return b[HeaderLen:], m.NextPayload, nil
}

// checkReencode encodes decrypted payloads, parses them back, compares,
// and checks that a second encoding is identical to the first. (The
// codec's own fuzz targets check the same of whole messages.)
func checkReencode(t *testing.T, h wire.Header, ps []wire.Payload) {
	t.Helper()
	out, err := (&wire.Message{Header: h, Payloads: ps}).Marshal()
	if err != nil {
		t.Fatalf("parsed payloads do not re-encode: %v", err)
	}
	m2, err := wire.ParseMessage(out)
	if err != nil {
		t.Fatalf("re-encoded message does not parse: %v", err)
	}
	if len(m2.Payloads) != len(ps) {
		t.Fatalf("payloads changed: %s -> %s", payloadTypes(ps), payloadTypes(m2.Payloads))
	}
	for i := range ps {
		if a, b := normalize(ps[i]), normalize(m2.Payloads[i]); !reflect.DeepEqual(a, b) {
			t.Fatalf("payload %d changed:\n%#v\n%#v", i, a, b)
		}
	}
	out2, err := (&wire.Message{Header: m2.Header, Payloads: m2.Payloads}).Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("encoding not stable (%v):\n%x\n%x", err, out, out2)
	}
}

// normalize maps empty slices to nil so parsed and built payloads compare.
func normalize(p wire.Payload) wire.Payload {
	v := reflect.ValueOf(p).Elem()
	out := reflect.New(v.Type())
	out.Elem().Set(v)
	normValue(out.Elem())
	return out.Interface().(wire.Payload)
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

// FuzzSKDecrypt: arbitrary plaintext (including bad padding) behind a
// valid ICV, and arbitrary protected messages, never panic; valid
// plaintext comes back intact.
func FuzzSKDecrypt(f *testing.F) {
	inner, first, _ := marshalInner(authPayloads(0))
	f.Add(uint8(0), uint8(first), append(inner, 0))
	f.Add(uint8(1), uint8(first), append(inner, 3, 3, 3, 3))
	f.Add(uint8(2), uint8(wire.PayloadNone), []byte{0})
	addCaptureSeeds(f, func(b []byte) { f.Add(uint8(3), uint8(0), b) })
	f.Fuzz(func(t *testing.T, mode, first uint8, data []byte) {
		c := fuzzCiphers[int(mode)%len(fuzzCiphers)]
		if mode >= 3 {
			// A whole message, decrypted as received.
			m, err := wire.ParseMessage(data)
			if err != nil {
				return
			}
			_ = m.Decrypt(c)
			return
		}
		if len(data) == 0 || len(data) > 4096 {
			return
		}
		bs := encrs[c.encr.ID].blockSize
		if len(data)%bs != 0 {
			data = append(data, make([]byte, bs-len(data)%bs)...)
		}
		hdr := make([]byte, HeaderLen+4)
		hdr[16], hdr[17], hdr[18] = byte(wire.PayloadSK), 0x20, byte(wire.IKEAuth)
		hdr[HeaderLen] = first
		total := HeaderLen + 4 + c.ivLen() + len(data) + c.icvLen()
		binary.BigEndian.PutUint32(hdr[24:], uint32(total))
		binary.BigEndian.PutUint16(hdr[HeaderLen+2:], uint16(total-HeaderLen))
		msg, err := c.sealPadded(hdr, data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.ParseMessage(msg)
		if err != nil {
			t.Fatalf("sealed message does not parse: %v", err)
		}
		err = m.Decrypt(c)
		pad := int(data[len(data)-1])
		if pad+1 > len(data) && err == nil {
			t.Fatalf("pad length %d of %d accepted", pad, len(data))
		}
		if err == nil {
			checkReencode(t, wire.Header{Exchange: wire.IKEAuth}, m.Payloads)
		}
	})
}

// FuzzAuthData: the signature AUTH data of a peer (AlgorithmIdentifier
// DER and signature) never panics the verifier.
func FuzzAuthData(f *testing.F) {
	for s := range schemeKeys {
		if alg, err := s.AlgorithmIdentifier(); err == nil {
			f.Add(append(append([]byte{byte(len(alg))}, alg...), make([]byte, 64)...))
		}
	}
	pub := signers(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &wire.Auth{Method: AuthDigitalSignature, Data: data}
		for _, k := range []string{"rsa", "p256", "ed25519"} {
			if _, err := verifyAuth(a, pub[k].Public(), []byte("octets")); err == nil {
				t.Fatalf("forged signature accepted: %x", data)
			}
		}
		_ = describeAuth(a)
	})
}
