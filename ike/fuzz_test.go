package ike

import (
	"encoding/binary"
	"testing"
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

// FuzzSKDecrypt: arbitrary plaintext (including bad padding) behind a
// valid ICV, and arbitrary protected messages, never panic; valid
// plaintext comes back intact.
func FuzzSKDecrypt(f *testing.F) {
	inner, first, _ := marshalPayloads(authPayloads(0))
	f.Add(uint8(0), uint8(first), append(inner, 0))
	f.Add(uint8(1), uint8(first), append(inner, 3, 3, 3, 3))
	f.Add(uint8(2), uint8(PayloadNone), []byte{0})
	addCaptureSeeds(f, func(b []byte) { f.Add(uint8(3), uint8(0), b) })
	f.Fuzz(func(t *testing.T, mode, first uint8, data []byte) {
		c := fuzzCiphers[int(mode)%len(fuzzCiphers)]
		if mode >= 3 {
			// A whole message, decrypted as received.
			m, err := ParseMessage(data)
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
		hdr[16], hdr[17], hdr[18] = byte(PayloadSK), 0x20, byte(IKEAuth)
		hdr[HeaderLen] = first
		total := HeaderLen + 4 + c.ivLen() + len(data) + c.icvLen()
		binary.BigEndian.PutUint32(hdr[24:], uint32(total))
		binary.BigEndian.PutUint16(hdr[HeaderLen+2:], uint16(total-HeaderLen))
		msg, err := c.sealPadded(hdr, data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMessage(msg)
		if err != nil {
			t.Fatalf("sealed message does not parse: %v", err)
		}
		err = m.Decrypt(c)
		pad := int(data[len(data)-1])
		if pad+1 > len(data) && err == nil {
			t.Fatalf("pad length %d of %d accepted", pad, len(data))
		}
		if err == nil {
			checkReencode(t, Header{Exchange: IKEAuth}, m.Payloads)
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
		a := &Auth{Method: AuthDigitalSignature, Data: data}
		for _, k := range []string{"rsa", "p256", "ed25519"} {
			if _, err := VerifyAuth(a, pub[k].Public(), []byte("octets")); err == nil {
				t.Fatalf("forged signature accepted: %x", data)
			}
		}
		_ = DescribeAuth(a)
	})
}
