package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"testing"
)

func hmacSHA384(key []byte, data ...[]byte) []byte {
	m := hmac.New(sha512.New384, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// TestIntAuthChain checks RFC 9242 §3.3.2 with two IKE_INTERMEDIATE
// exchanges, computed by hand with HMAC-SHA-384: the second IntAuth of
// each side chains the first, each is keyed with its own exchange's SK_p,
// and AUTH's signed octets end with IntAuth_i2 | IntAuth_r2 | IKE_AUTH_MID.
func TestIntAuthChain(t *testing.T) {
	p := PRFHMACSHA2_384
	var c intAuthChain
	if got := c.authOctets(1); got != nil {
		t.Errorf("IntAuth without IKE_INTERMEDIATE: %x, want nothing", got)
	}
	skpi1, skpr1 := []byte("SK_pi(0)"), []byte("SK_pr(0)")
	skpi2, skpr2 := []byte("SK_pi(1)"), []byte("SK_pr(1)")
	req1, resp1 := []byte("A|P of request 1"), []byte("A|P of response 1")
	req2, resp2 := []byte("A|P of request 2"), []byte("A|P of response 2")
	// A and P are folded in apart; the PRF covers them joined.
	c.addRequest(p, skpi1, req1[:3], req1[3:])
	c.addResponse(p, skpr1, resp1[:3], resp1[3:])
	c.addRequest(p, skpi2, req2[:0], req2)
	c.addResponse(p, skpr2, resp2, nil)

	i1, r1 := hmacSHA384(skpi1, req1), hmacSHA384(skpr1, resp1)
	i2, r2 := hmacSHA384(skpi2, i1, req2), hmacSHA384(skpr2, r1, resp2)
	want := append(append(append([]byte(nil), i2...), r2...), 0, 0, 0, 3)
	if got := c.authOctets(3); !bytes.Equal(got, want) {
		t.Errorf("IntAuth\n%x\nwant IntAuth_i2 | IntAuth_r2 | 00000003\n%x", got, want)
	}

	id := NullIdentity()
	msg1, nonce, skp := []byte("IKE_SA_INIT request"), []byte("Nr"), []byte("SK_pi(2)")
	got := signedOctetsWithIntAuth(p, msg1, nonce, skp, id, &c, 3)
	plain := SignedOctets(p, msg1, nonce, skp, id)
	if !bytes.Equal(got, append(append([]byte(nil), plain...), want...)) {
		t.Errorf("signed octets do not end with the IntAuth after RFC 7296's octets")
	}
	var none intAuthChain
	if got := signedOctetsWithIntAuth(p, msg1, nonce, skp, id, &none, 1); !bytes.Equal(got, plain) {
		t.Errorf("signed octets without IKE_INTERMEDIATE differ from RFC 7296's")
	}
}
