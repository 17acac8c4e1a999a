package wire

import "encoding/binary"

// InitScan is what a responder needs of an IKE_SA_INIT request to decide
// about cookies (RFC 7296 §2.6), read without parsing the message: the
// initiator's nonce and the COOKIE notify's data, if any. Both alias the
// datagram.
type InitScan struct {
	Nonce  []byte
	Cookie []byte
}

// ScanInit walks the payload chain of the IKE_SA_INIT request b (whose
// header ParseHeader accepted) and returns its nonce and cookie, without
// allocating. It checks only what it reads: the chain's lengths, and the
// nonce's and the notify's own; ParseMessage checks the rest when the
// request goes further. A request without a Nonce payload is an error.
func ScanInit(b []byte) (InitScan, error) {
	var s InitScan
	if len(b) < HeaderLen {
		return s, SyntaxErrorf("IKE_SA_INIT request of %d octets", len(b))
	}
	next := PayloadType(b[16])
	off := HeaderLen
	for next != PayloadNone {
		if len(b)-off < 4 {
			return s, SyntaxErrorf("payload %v header truncated at offset %d", next, off)
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 4 || n > len(b)-off {
			return s, SyntaxErrorf("payload %v length %d at offset %d", next, n, off)
		}
		body := b[off+4 : off+n]
		switch next {
		case PayloadNonce:
			if len(body) < MinNonceLen || len(body) > MaxNonceLen {
				return s, SyntaxErrorf("nonce length %d outside %d..%d", len(body), MinNonceLen, MaxNonceLen)
			}
			s.Nonce = body
		case PayloadNotify:
			// Protocol ID, SPI size, notify type, SPI, data.
			if len(body) < 4 || len(body) < 4+int(body[1]) {
				return s, SyntaxErrorf("notify of %d octets", len(body))
			}
			if NotifyType(binary.BigEndian.Uint16(body[2:])) == NotifyCookie && s.Cookie == nil {
				s.Cookie = body[4+int(body[1]):]
			}
		}
		next = PayloadType(b[off])
		off += n
	}
	if s.Nonce == nil {
		return s, SyntaxErrorf("IKE_SA_INIT request without a Nonce payload")
	}
	return s, nil
}
