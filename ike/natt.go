package ike

import (
	"crypto/hmac"
	"crypto/sha1"
	"net/netip"
)

// The well-known IKE ports (RFC 7296 §2, RFC 3948). The sockets on them
// live in internal/udpmux; the engine reaches them through Sender.
const (
	IKEPort  = 500
	NATTPort = 4500
)

// NATDetectionHash computes the NAT_DETECTION_*_IP data of RFC 7296
// §2.23: SHA-1(SPIi | SPIr | IP | port). In IKE_SA_INIT requests SPIr is
// zero.
func NATDetectionHash(spii, spir SPI, ap netip.AddrPort) []byte {
	h := sha1.New()
	h.Write(spii[:])
	h.Write(spir[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	p := ap.Port()
	h.Write([]byte{byte(p >> 8), byte(p)})
	return h.Sum(nil)
}

// NATDetectionNotifies returns the NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP notifies for a message sent from local to
// remote.
func NATDetectionNotifies(spii, spir SPI, local, remote netip.AddrPort) []*Notify {
	return []*Notify{
		{NotifyType: NotifyNATDetectionSourceIP, Data: NATDetectionHash(spii, spir, local)},
		{NotifyType: NotifyNATDetectionDestinationIP, Data: NATDetectionHash(spii, spir, remote)},
	}
}

// NATStatus is what the NAT detection notifies of a received message say.
type NATStatus struct {
	// Checked is false when the peer sent no NAT detection notifies.
	Checked bool
	// LocalBehindNAT: no NAT_DETECTION_DESTINATION_IP matched our address
	// as we see it, so something rewrote it on the way.
	LocalBehindNAT bool
	// RemoteBehindNAT: no NAT_DETECTION_SOURCE_IP matched the source
	// address the message arrived from.
	RemoteBehindNAT bool
}

// DetectNAT evaluates the NAT detection notifies of m, received at local
// from remote. Either NAT means IKE moves to port 4500 and ESP is UDP
// encapsulated.
func DetectNAT(m *Message, local, remote netip.AddrPort) NATStatus {
	var st NATStatus
	src := NATDetectionHash(m.SPIi, m.SPIr, remote)
	dst := NATDetectionHash(m.SPIi, m.SPIr, local)
	var sawSrc, sawDst, srcOK, dstOK bool
	for _, p := range m.Payloads {
		n, ok := p.(*Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case NotifyNATDetectionSourceIP:
			sawSrc = true
			srcOK = srcOK || hmac.Equal(n.Data, src)
		case NotifyNATDetectionDestinationIP:
			sawDst = true
			dstOK = dstOK || hmac.Equal(n.Data, dst)
		}
	}
	if !sawSrc || !sawDst {
		return st
	}
	st.Checked = true
	st.LocalBehindNAT = !dstOK
	st.RemoteBehindNAT = !srcOK
	return st
}

// NonESPMarker prefixes IKE messages on port 4500 (RFC 3948 §2.2).
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
