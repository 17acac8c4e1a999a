package ike

import (
	"errors"
	"testing"
)

// FuzzKEMPayload feeds arbitrary KE data to both roles of ML-KEM: as the
// initiator's encapsulation key to RespondKeyExchange, and as the
// responder's ciphertext to SharedSecret. Whatever comes in, nothing
// panics; every refusal wraps ErrInvalidKE (so the engine answers
// INVALID_SYNTAX); and anything accepted has exactly the method's length
// and gives a 32-octet secret.
func FuzzKEMPayload(f *testing.F) {
	for _, g := range []DHGroup{DHMLKEM768, DHMLKEM1024} {
		k, err := StartKeyExchange(g, nil)
		if err != nil {
			f.Fatal(err)
		}
		ek := k.Public()
		ct, _, err := RespondKeyExchange(g, ek, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(g), ek)
		f.Add(uint8(g), ct)
		f.Add(uint8(g), ek[:len(ek)-1])
		f.Add(uint8(g), append(ek, 0))
		f.Add(uint8(g), []byte{})
	}
	keys := map[DHGroup]KeyExchange{}
	for _, g := range []DHGroup{DHMLKEM768, DHMLKEM1024} {
		keys[g], _ = StartKeyExchange(g, nil)
	}
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		g := DHMLKEM768
		if method%2 == 1 {
			g = DHMLKEM1024
		}
		ours, secret, err := RespondKeyExchange(g, data, nil)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidKE):
			t.Fatalf("%v: encapsulation key of %d octets: error not ErrInvalidKE: %v", g, len(data), err)
		case err == nil && (len(data) != g.PublicLen() || len(ours) != g.ResponseLen() || len(secret) != 32):
			t.Fatalf("%v: accepted a key of %d octets: ciphertext %d, secret %d", g, len(data), len(ours), len(secret))
		case err != nil && len(data) == g.PublicLen() && allZero(data):
			t.Fatalf("%v: refused the all-zero key, which is a valid encoding: %v", g, err)
		}
		s, err := keys[g].SharedSecret(data)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidKE):
			t.Fatalf("%v: ciphertext of %d octets: error not ErrInvalidKE: %v", g, len(data), err)
		case (err == nil) != (len(data) == g.ResponseLen()):
			t.Fatalf("%v: ciphertext of %d octets: err = %v", g, len(data), err)
		case err == nil && len(s) != 32:
			t.Fatalf("%v: secret of %d octets", g, len(s))
		}
	})
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
