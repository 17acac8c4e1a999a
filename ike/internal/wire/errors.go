package wire

import "fmt"

// SyntaxError reports a malformed message: a length that does not fit, a
// field out of range, a payload where none may be. The engine answers it
// with INVALID_SYNTAX (or drops the message, before authentication). Its
// text, once wrapped by the parser, names the payload and the field, e.g.
// "ike: SA payload: proposal 2: transform 3: attribute length 9 exceeds
// remaining 4".
type SyntaxError struct {
	msg string
}

func (e *SyntaxError) Error() string { return e.msg }

// SyntaxErrorf returns a *SyntaxError with the formatted text; parsers
// outside this package (AUTH data, SK padding) use it too.
func SyntaxErrorf(format string, args ...any) error {
	return &SyntaxError{msg: fmt.Sprintf(format, args...)}
}

// UnsupportedCriticalPayloadError is returned when a message carries a
// payload type we do not implement with its critical bit set. RFC 7296
// §2.5 requires rejecting the whole message with an
// UNSUPPORTED_CRITICAL_PAYLOAD notify whose data is the payload type; see
// NotifyData.
type UnsupportedCriticalPayloadError struct {
	Type PayloadType
}

func (e *UnsupportedCriticalPayloadError) Error() string {
	return fmt.Sprintf("ike: unsupported critical payload type %d", uint8(e.Type))
}

// Notify returns the error notification the engine should send back.
func (e *UnsupportedCriticalPayloadError) Notify() *Notify {
	return &Notify{NotifyType: NotifyUnsupportedCriticalPayload, Data: []byte{byte(e.Type)}}
}
