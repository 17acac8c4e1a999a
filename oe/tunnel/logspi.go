package tunnel

import "log/slog"

// HexSPI is a CHILD SA's SPI as a log attribute value: 8 hex digits, as
// fmt's %08x writes them. The digits are made only when a handler writes
// the record, and without fmt: a fmt.Sprintf argument boxed the SPI,
// formatted it and boxed the string before slog could even ask whether
// the line is wanted, three times on the "tunnel up" line of every
// handshake.
type HexSPI uint32

// LogValue implements slog.LogValuer.
func (s HexSPI) LogValue() slog.Value {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[s&0xf]
		s >>= 4
	}
	return slog.StringValue(string(b[:]))
}
