package peers

import (
	"crypto/rsa"
	"strings"
	"testing"
)

func TestRSASigKeyRoundTrip(t *testing.T) {
	k := mustRSA(t).Public().(*rsa.PublicKey)
	s := RSASigKey(k)
	if !strings.HasPrefix(s, "0sAwEAA") { // RFC 3110: exponent length 3, 65537 = 01 00 01
		t.Errorf("RSASigKey = %.12s..., want 0sAwEAA...", s)
	}
	back, err := ParseRSASigKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) {
		t.Error("round trip changed the key")
	}
	for _, bad := range []string{"AwEAAQ", "0s!!", "0s", "0sAA==", "0sAwEAAQ=="} {
		if _, err := ParseRSASigKey(bad); err == nil {
			t.Errorf("ParseRSASigKey(%q) accepted it", bad)
		}
	}
}

func FuzzParseRSASigKey(f *testing.F) {
	f.Add(RSASigKey(mustRSA(f).Public().(*rsa.PublicKey)))
	f.Add("0sAwEAAQ==")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRSASigKey(s)
		if err != nil {
			return
		}
		if k2, err := ParseRSASigKey(RSASigKey(k)); err != nil || !k2.Equal(k) {
			t.Fatalf("re-encode of an accepted key: %v", err)
		}
	})
}
