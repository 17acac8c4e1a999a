package udpmux

// ikeHeaderLen is the length of the IKE header (RFC 7296 §3.1): anything
// shorter is not IKE.
const ikeHeaderLen = 28

// Kind is what a received datagram carries.
type Kind uint8

// Datagram kinds.
const (
	KindInvalid   Kind = iota // too short to be anything: dropped
	KindIKE                   // an IKE message
	KindESP                   // ESP-in-UDP (NAT-T port only)
	KindKeepalive             // a NAT keepalive (NAT-T port only)
)

// Classify says what datagram d, received on an IKE-port socket (natt
// false) or on a NAT-T socket (natt true), carries. For IKE it returns
// the message without the non-ESP marker, a subslice of d.
func Classify(d []byte, natt bool) (ike []byte, k Kind) {
	if !natt {
		if len(d) < ikeHeaderLen {
			return nil, KindInvalid
		}
		return d, KindIKE
	}
	switch {
	case len(d) == 1 && d[0] == 0xff:
		return nil, KindKeepalive
	case len(d) >= 4 && d[0]|d[1]|d[2]|d[3] == 0:
		if len(d)-4 < ikeHeaderLen {
			return nil, KindInvalid
		}
		return d[4:], KindIKE
	case len(d) >= 8:
		return nil, KindESP
	}
	return nil, KindInvalid
}

// isESP reports whether pkt can go on the wire as ESP-in-UDP: a peer
// would read fewer than 8 octets, or a zero SPI, as a keepalive or IKE.
func isESP(pkt []byte) bool {
	return len(pkt) >= 8 && pkt[0]|pkt[1]|pkt[2]|pkt[3] != 0
}

// addMarker prefixes an IKE message with the non-ESP marker for the NAT-T
// port.
func addMarker(msg []byte) []byte {
	return append(append(make([]byte, 0, 4+len(msg)), 0, 0, 0, 0), msg...)
}
