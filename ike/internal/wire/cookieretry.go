package wire

import (
	"bytes"
	"encoding/binary"
)

// CookieRetry reports whether the IKE_SA_INIT request req is init retried
// as RFC 7296 §2.6 says an initiator answers a cookie demand: a COOKIE
// notify put first and every other payload unchanged. It returns the
// cookie, aliasing req. Both must be whole datagrams; nothing else of
// either is checked.
func CookieRetry(req, init []byte) (cookie []byte, ok bool) {
	if len(init) < HeaderLen || len(req) < HeaderLen+4 || PayloadType(req[16]) != PayloadNotify {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(req[HeaderLen+2:]))
	if n < 8 || n > len(req)-HeaderLen {
		return nil, false
	}
	// Protocol ID, SPI size (none), notify type, then the cookie.
	body := req[HeaderLen+4 : HeaderLen+n]
	if body[1] != 0 || NotifyType(binary.BigEndian.Uint16(body[2:])) != NotifyCookie {
		return nil, false
	}
	// The headers differ only in the first payload's type and the
	// length; the cookie's next payload is init's first.
	if !bytes.Equal(req[:16], init[:16]) || !bytes.Equal(req[17:24], init[17:24]) || req[HeaderLen] != init[16] {
		return nil, false
	}
	if !bytes.Equal(req[HeaderLen+n:], init[HeaderLen:]) {
		return nil, false
	}
	return body[4:], true
}

// WithCookie is init retried with cookie as RFC 7296 §2.6 says: a COOKIE
// notify put first, every other payload unchanged (the request that
// CookieRetry recognises). init must be a whole IKE_SA_INIT request.
func WithCookie(init, cookie []byte) []byte {
	n := 8 + len(cookie)
	out := make([]byte, HeaderLen, len(init)+n)
	copy(out, init[:HeaderLen])
	out[16] = byte(PayloadNotify)
	binary.BigEndian.PutUint32(out[24:], uint32(len(init)+n))
	// Generic payload header (next payload: init's first, not critical),
	// then protocol ID and SPI size (none), notify type, the cookie.
	out = append(out, init[16], 0)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = append(out, 0, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(NotifyCookie))
	out = append(out, cookie...)
	return append(out, init[HeaderLen:]...)
}
