package ike

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

var skSuites = []IKESuite{
	{Encr: EncrAlg{EncrAESGCM16, 128}, PRF: PRFHMACSHA2_256},
	{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_512},
	{Encr: EncrAlg{EncrChaCha20Poly1305, 0}, PRF: PRFHMACSHA2_256},
	{Encr: EncrAlg{EncrAESCBC, 128}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_256_128},
	{Encr: EncrAlg{EncrAESCBC, 256}, PRF: PRFHMACSHA2_384, Integ: IntegHMACSHA2_384_192},
	{Encr: EncrAlg{EncrAESCBC, 256}, PRF: PRFHMACSHA2_512, Integ: IntegHMACSHA2_512_256},
}

func testKeys(t testing.TB, s IKESuite) (*SKCipher, *SKCipher) {
	t.Helper()
	seed := make([]byte, s.PRF.Size())
	rand.Read(seed)
	k, err := s.DeriveIKEKeys(seed, make([]byte, 32), make([]byte, 32), SPI{1}, SPI{2})
	if err != nil {
		t.Fatal(err)
	}
	ci, cr, err := k.Ciphers()
	if err != nil {
		t.Fatal(err)
	}
	return ci, cr
}

func authPayloads(extra int) []wire.Payload {
	a := netip.MustParseAddr("192.0.2.1")
	return []wire.Payload{
		&wire.IDPayload{Identity: AddrIdentity(a)},
		&wire.Auth{Method: AuthDigitalSignature, Data: bytes.Repeat([]byte{7}, 64+extra)},
		&wire.SA{Proposals: DefaultESPPolicy().Proposals([]byte{1, 2, 3, 4}, DHNone)},
		&wire.TSPayload{Selectors: []TrafficSelector{HostSelector(a)}},
		&wire.TSPayload{Responder: true, Selectors: []TrafficSelector{HostSelector(netip.MustParseAddr("192.0.2.2"))}},
	}
}

// TestSKRoundTrip encrypts and decrypts with every suite, for plaintext
// lengths around the block size, and checks the padding rules.
func TestSKRoundTrip(t *testing.T) {
	for _, s := range skSuites {
		ci, cr := testKeys(t, s)
		for extra := 0; extra < 17; extra++ {
			m := &wire.Message{Header: wire.Header{SPIi: SPI{1}, SPIr: SPI{2}, Exchange: wire.IKEAuth, Flags: wire.FlagInitiator, MessageID: 1}, Payloads: authPayloads(extra)}
			b, err := m.MarshalEncrypted(ci)
			if err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			inner, _, _ := marshalInner(authPayloads(extra))
			bs := encrs[s.Encr.ID].blockSize
			ctLen := len(b) - HeaderLen - 4 - ci.ivLen() - ci.icvLen()
			if ctLen%bs != 0 || ctLen-len(inner)-1 >= bs || ctLen < len(inner)+1 {
				t.Errorf("%v: %d plaintext octets became %d ciphertext octets", s, len(inner), ctLen)
			}
			got, err := wire.ParseMessage(b)
			if err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			if err := got.Decrypt(cr); !errors.Is(err, ErrIntegrity) {
				t.Errorf("%v: decrypt with the other direction's keys: %v", s, err)
			}
			if err := got.Decrypt(ci); err != nil {
				t.Fatalf("%v: %v", s, err)
			}
			if payloadTypes(got.Payloads) != "IDi AUTH SA TSi TSr" || !bytes.Equal(got.Payloads[1].(*wire.Auth).Data, m.Payloads[1].(*wire.Auth).Data) {
				t.Errorf("%v: got %s", s, payloadTypes(got.Payloads))
			}
			// Flipping any octet of header, IV, ciphertext or ICV fails.
			for _, pos := range []int{0, 17, 20, HeaderLen + 1, HeaderLen + 4, len(b) / 2, len(b) - 1} {
				bad := append([]byte(nil), b...)
				bad[pos] ^= 0x80
				bm, err := wire.ParseMessage(bad)
				if err != nil {
					continue // the header or generic header no longer parses
				}
				if err := bm.Decrypt(ci); err == nil {
					t.Errorf("%v: octet %d flipped, still decrypts", s, pos)
				}
			}
		}
		// Empty SK (liveness check).
		m := &wire.Message{Header: wire.Header{Exchange: wire.Informational}}
		b, err := m.MarshalEncrypted(cr)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := wire.ParseMessage(b)
		if err := got.Decrypt(cr); err != nil || len(got.Payloads) != 0 {
			t.Errorf("%v: empty SK: %v %d", s, err, len(got.Payloads))
		}
	}
}

// AEAD IVs never repeat under one key.
func TestSKAEADUniqueIV(t *testing.T) {
	ci, _ := testKeys(t, skSuites[0])
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		b, _ := (&wire.Message{Header: wire.Header{Exchange: wire.Informational}}).MarshalEncrypted(ci)
		iv := string(b[HeaderLen+4 : HeaderLen+12])
		if seen[iv] {
			t.Fatalf("IV %x repeated", iv)
		}
		seen[iv] = true
	}
}

// Malformed protected bodies are refused with a syntax or integrity error,
// never a panic.
func TestSKMalformed(t *testing.T) {
	for _, s := range skSuites {
		ci, _ := testKeys(t, s)
		hdr, _ := (&wire.Message{Header: wire.Header{Exchange: wire.Informational}}).MarshalEncrypted(ci)
		aad := hdr[:HeaderLen+4]
		for _, n := range []int{0, 1, ci.ivLen(), ci.ivLen() + ci.icvLen(), ci.ivLen() + ci.icvLen() + 3} {
			if _, err := ci.Open("SK", aad, make([]byte, n)); err == nil {
				t.Errorf("%v: %d-octet body accepted", s, n)
			}
		}
		// A pad length longer than the plaintext, correctly protected.
		bs := encrs[s.Encr.ID].blockSize
		pt := make([]byte, max(bs, 4))
		pt[len(pt)-1] = byte(len(pt))
		sealed, err := ci.sealPadded(append([]byte(nil), aad...), pt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ci.Open("SK", aad, sealed[len(aad):])
		var se *wire.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "pad length") {
			t.Errorf("%v: bad pad length: %v", s, err)
		}
	}
	if _, err := NewSKCipher(EncrAlg{EncrAESGCM16, 128}, IntegNone, make([]byte, 16), nil); err == nil {
		t.Errorf("GCM key without salt accepted")
	}
	if _, err := NewSKCipher(EncrAlg{EncrAESCBC, 128}, IntegNone, make([]byte, 16), nil); err == nil {
		t.Errorf("CBC without INTEG accepted")
	}
	if _, err := NewSKCipher(EncrAlg{EncrAESCBC, 100}, IntegHMACSHA2_256_128, make([]byte, 16), make([]byte, 32)); err == nil {
		t.Errorf("AES-100 accepted")
	}
}

// TestFragmentRoundTrip splits messages into SKF fragments of several
// sizes and reassembles them in order and in reverse, with a duplicate.
func TestFragmentRoundTrip(t *testing.T) {
	for _, s := range skSuites {
		ci, cr := testKeys(t, s)
		for _, size := range []int{200, 300, 576 - 28, 1280 - 48} {
			m := &wire.Message{Header: wire.Header{SPIi: SPI{1}, SPIr: SPI{2}, Exchange: wire.IKEAuth, Flags: wire.FlagResponse, MessageID: 1}, Payloads: authPayloads(1500)}
			frags, err := m.MarshalFragments(ci, size)
			if err != nil {
				t.Fatalf("%v size %d: %v", s, size, err)
			}
			if len(frags) < 2 {
				t.Fatalf("%v size %d: %d fragments", s, size, len(frags))
			}
			for _, f := range frags {
				if len(f) > size {
					t.Errorf("%v: fragment of %d octets exceeds %d", s, len(f), size)
				}
			}
			for _, order := range [][]int{ascending(len(frags)), descending(len(frags))} {
				var r wire.Reassembler
				var out *wire.Message
				for k, i := range order {
					fm, err := wire.ParseMessage(frags[i])
					if err != nil {
						t.Fatal(err)
					}
					if k == 0 {
						// Wrong keys: rejected, and nothing is collected.
						if o, err := r.Add(fm, cr); o != nil || !errors.Is(err, ErrIntegrity) {
							t.Fatalf("wrong keys: %v %v", o, err)
						}
						// A duplicate is ignored.
						dup, _ := wire.ParseMessage(frags[i])
						if o, err := r.Add(dup, ci); o != nil || err != nil {
							t.Fatalf("first copy: %v %v", o, err)
						}
					}
					out, err = r.Add(fm, ci)
					if err != nil {
						t.Fatal(err)
					}
					if (out != nil) != (k == len(order)-1) {
						t.Fatalf("fragment %d of %d: complete=%v", k+1, len(order), out != nil)
					}
				}
				if payloadTypes(out.Payloads) != "IDi AUTH SA TSi TSr" || out.MessageID != 1 || !out.IsResponse() {
					t.Fatalf("%v size %d: reassembled %s", s, size, payloadTypes(out.Payloads))
				}
				if a := out.Payloads[1].(*wire.Auth); len(a.Data) != 64+1500 {
					t.Errorf("AUTH data %d octets", len(a.Data))
				}
			}
		}
		// A message that fits goes out as one SK message.
		small := &wire.Message{Header: wire.Header{Exchange: wire.IKEAuth}, Payloads: authPayloads(0)}
		one, err := small.MarshalFragments(ci, 1280)
		if err != nil || len(one) != 1 || one[0][16] != byte(wire.PayloadSK) {
			t.Errorf("%v: small message: %d datagrams %v", s, len(one), err)
		}
		if _, err := small.MarshalFragments(ci, 60); err == nil {
			t.Errorf("%v: fragment size 60 accepted", s)
		}
	}
}

func ascending(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

func descending(n int) []int {
	o := ascending(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		o[i], o[j] = o[j], o[i]
	}
	return o
}

// TestSKCipherEveryAcceptedKeySize builds, for every encryption algorithm
// and key size that EncrAlg.check accepts, the cipher state and seals and
// opens a message: NewSKCipher no longer builds the state to try the key,
// so a key size the check let through but the cipher refuses would only
// fail at the first message.
func TestSKCipherEveryAcceptedKeySize(t *testing.T) {
	for id, info := range encrs {
		bits := info.keyBits
		if bits == nil {
			bits = []int{0}
		}
		for _, b := range bits {
			encr := EncrAlg{id, b}
			integ := IntegNone
			if !id.AEAD() {
				integ = IntegHMACSHA2_256_128
			}
			if err := encr.check(); err != nil {
				t.Fatalf("%v: %v", encr, err)
			}
			c, err := NewSKCipher(encr, integ, make([]byte, encr.KeyLen()), make([]byte, integ.KeyLen()))
			if err != nil {
				t.Fatalf("%v: %v", encr, err)
			}
			aad := make([]byte, HeaderLen+4)
			sealed, err := c.Seal(aad, []byte("payloads"))
			if err != nil {
				t.Fatalf("%v: seal: %v", encr, err)
			}
			pt, err := c.Open("SK", aad, sealed[len(aad):])
			if err != nil || string(pt) != "payloads" {
				t.Errorf("%v: open: %q, %v", encr, pt, err)
			}
		}
	}
	// A key of the wrong length is still refused when the cipher is made.
	if _, err := NewSKCipher(EncrAlg{EncrAESGCM16, 256}, IntegNone, make([]byte, 35), nil); err == nil {
		t.Error("AES-GCM-256 with a 35-octet key (31 + salt): no error")
	}
}
