package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// RFC 4231 §4.3 (test case 2) and §4.7 (test case 6, a key longer than
// the block), HMAC-SHA-256 and HMAC-SHA-512.
func TestHMACSumRFC4231(t *testing.T) {
	long := bytes.Repeat([]byte{0xaa}, 131)
	for _, c := range []struct {
		prf       PRFID
		key, data []byte
		want      string
	}{
		{PRFHMACSHA2_256, []byte("Jefe"), []byte("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{PRFHMACSHA2_512, []byte("Jefe"), []byte("what do ya want for nothing?"), "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{PRFHMACSHA2_256, long, []byte("Test Using Larger Than Block-Size Key - Hash Key First"), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	} {
		if got := hex.EncodeToString(c.prf.Compute(c.key, c.data)); got != c.want {
			t.Errorf("%v(%q…): %s, want %s", c.prf, c.key[:4], got, c.want)
		}
	}
}

// Every PRF, with keys from empty to longer than two blocks and data in
// several pieces, gives what crypto/hmac gives.
func TestHMACSumMatchesCryptoHMAC(t *testing.T) {
	for p, info := range prfs {
		for _, klen := range []int{0, 1, 16, 32, 48, 63, 64, 65, 127, 128, 129, 300} {
			key := make([]byte, klen)
			rand.Read(key)
			a, b := make([]byte, klen%37), make([]byte, 200)
			rand.Read(a)
			rand.Read(b)
			m := hmac.New(info.hash, key)
			m.Write(a)
			m.Write(b)
			want := m.Sum(nil)
			if got := p.Compute(key, a, b); !bytes.Equal(got, want) {
				t.Errorf("%v, %d-octet key: %x, crypto/hmac %x", p, klen, got, want)
			}
			if got := p.Compute(key); !bytes.Equal(got, hmac.New(info.hash, key).Sum(nil)) {
				t.Errorf("%v, %d-octet key, no data: %x", p, klen, got)
			}
			if got := p.Compute(key, a, b); len(got) != p.Size() || cap(got) != p.Size() {
				t.Errorf("%v: %d octets, capacity %d, want %d", p, len(got), cap(got), p.Size())
			}
		}
	}
}

// BenchmarkPRFCompute is one PRF over a short input, as for SKEYSEED or
// an AUTH payload.
func BenchmarkPRFCompute(b *testing.B) {
	key := make([]byte, 64)
	data := make([]byte, 300)
	b.ReportAllocs()
	for b.Loop() {
		PRFHMACSHA2_256.Compute(key, data)
	}
}

// Size is the length of each PRF's output.
func TestPRFSize(t *testing.T) {
	for p, info := range prfs {
		if got, want := p.Size(), info.hash().Size(); got != want {
			t.Errorf("%v: Size %d, its hash gives %d", p, got, want)
		}
	}
	if got := PRFID(0).Size(); got != 0 {
		t.Errorf("unknown PRF: Size %d, want 0", got)
	}
}
