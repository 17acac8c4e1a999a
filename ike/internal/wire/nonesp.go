package wire

// nonESPMarker prefixes IKE messages on port 4500 (RFC 3948 §2.2).
var nonESPMarker = [4]byte{}

// Demux4500 classifies a datagram received on UDP port 4500: an IKE
// message after the 4-octet zero non-ESP marker, a NAT keepalive (one 0xFF
// octet), or ESP.
func Demux4500(d []byte) (ike []byte, kind PortKind) {
	switch {
	case len(d) == 1 && d[0] == 0xff:
		return nil, KindKeepalive
	case len(d) >= 4 && [4]byte(d[:4]) == nonESPMarker:
		return d[4:], KindIKE
	case len(d) >= 8:
		return nil, KindESP
	}
	return nil, KindInvalid
}

// PortKind is what a datagram on port 4500 carries.
type PortKind uint8

// Datagram kinds on port 4500.
const (
	KindInvalid PortKind = iota
	KindIKE
	KindESP
	KindKeepalive
)

// AddNonESPMarker prefixes an IKE message for sending on port 4500.
func AddNonESPMarker(msg []byte) []byte {
	return append(append(make([]byte, 0, 4+len(msg)), nonESPMarker[:]...), msg...)
}
