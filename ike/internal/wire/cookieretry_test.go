package wire

import (
	"bytes"
	"testing"
)

// FuzzCookieRetry: CookieRetry reads two untrusted datagrams without
// panicking, and what it recognises is what WithCookie builds.
func FuzzCookieRetry(f *testing.F) {
	init, err := (&Message{Header: Header{SPIi: [8]byte{1}, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{&Nonce{Data: bytes.Repeat([]byte{7}, 32)}}}).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(WithCookie(init, []byte("cookie")), init)
	f.Add(init, init)
	f.Add([]byte{}, init)
	f.Fuzz(func(t *testing.T, req, init []byte) {
		cookie, ok := CookieRetry(req, init)
		if !ok {
			return
		}
		again, ok2 := CookieRetry(WithCookie(init, cookie), init)
		if !ok2 || !bytes.Equal(again, cookie) {
			t.Fatalf("WithCookie(init, %x) is not recognised: %x, %v", cookie, again, ok2)
		}
	})
}
