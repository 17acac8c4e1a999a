package wire

import "golang.org/x/crypto/cryptobyte"

// reader wraps a cryptobyte.String and records the first field that did
// not fit, so payload parsers read fields in sequence and check once.
type reader struct {
	s   cryptobyte.String
	err error
}

func (r *reader) fail(field string, need int) {
	if r.err == nil {
		r.err = SyntaxErrorf("%s: need %d octets, have %d", field, need, len(r.s))
	}
}

func (r *reader) u8(field string) uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.fail(field, 1)
	}
	return v
}

func (r *reader) u16(field string) uint16 {
	var v uint16
	if r.err == nil && !r.s.ReadUint16(&v) {
		r.fail(field, 2)
	}
	return v
}

func (r *reader) u32(field string) uint32 {
	var v uint32
	if r.err == nil && !r.s.ReadUint32(&v) {
		r.fail(field, 4)
	}
	return v
}

// bytes returns a copy of the next n octets, so parsed payloads never alias
// the caller's datagram buffer.
func (r *reader) bytes(n int, field string) []byte {
	return append([]byte(nil), r.view(n, field)...)
}

// view returns the next n octets without copying them: for a field the
// caller converts at once (an SPI into an array, an address into a
// netip.Addr) and does not keep. Copying such fields cost an allocation
// each, several per message.
func (r *reader) view(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	var v []byte
	if n < 0 || !r.s.ReadBytes(&v, n) {
		r.fail(field, n)
		return nil
	}
	return v
}

// skip passes over n octets that carry nothing (RESERVED fields).
func (r *reader) skip(n int, field string) { r.view(n, field) }

// sub returns a reader over the next n octets, which it skips: a view of
// them, not a copy, for a nested structure whose fields the caller reads
// (and copies, with bytes or rest, where it keeps them). On a short read
// the sub-reader is empty and carries r's error.
func (r *reader) sub(n int, field string) reader {
	if r.err != nil {
		return reader{err: r.err}
	}
	var v []byte
	if n < 0 || !r.s.ReadBytes(&v, n) {
		r.fail(field, n)
		return reader{err: r.err}
	}
	return reader{s: v}
}

// rest returns a copy of everything left.
func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	v := append([]byte{}, r.s...)
	r.s = r.s[len(r.s):]
	return v
}

func (r *reader) left() int { return len(r.s) }

func (r *reader) empty() bool { return len(r.s) == 0 }
