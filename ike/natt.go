package ike

import (
	"crypto/hmac"
	"crypto/sha1"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
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

// natDetectionNotifies returns the NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP notifies for a message sent from local to
// remote.
func natDetectionNotifies(spii, spir SPI, local, remote netip.AddrPort) []*wire.Notify {
	return []*wire.Notify{
		{NotifyType: wire.NotifyNATDetectionSourceIP, Data: NATDetectionHash(spii, spir, local)},
		{NotifyType: wire.NotifyNATDetectionDestinationIP, Data: NATDetectionHash(spii, spir, remote)},
	}
}

// ourNATDetection returns the NAT detection notifies for an
// IKE_SA_INIT message we send from local to remote. With
// EngineConfig.ForceUDPEncap the source hash is the one of our address
// with port 0, which no datagram can come from: the peer's check fails
// as if a NAT had rewritten our source, so an RFC 7296 §2.23 peer moves
// to port 4500 (as initiator) or expects us to (as responder), and both
// ends UDP-encapsulate ESP. strongSwan's encap=yes and Libreswan's
// encapsulation=yes fake the same hash (theirs is random); the RFC
// allows it, to reach a NAT-T path on purpose. The destination hash
// stays true, so the peer never thinks it is itself behind a NAT and
// sends no keepalives.
func (e *Engine) ourNATDetection(spii, spir SPI, local, remote netip.AddrPort) []*wire.Notify {
	ns := natDetectionNotifies(spii, spir, local, remote)
	if e.cfg.ForceUDPEncap {
		ns[0].Data = NATDetectionHash(spii, spir, netip.AddrPortFrom(local.Addr(), 0))
	}
	return ns
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

// detectNAT evaluates the NAT detection notifies of m, received at local
// from remote. Either NAT means IKE moves to port 4500 and ESP is UDP
// encapsulated.
func detectNAT(m *wire.Message, local, remote netip.AddrPort) NATStatus {
	var st NATStatus
	src := NATDetectionHash(m.SPIi, m.SPIr, remote)
	dst := NATDetectionHash(m.SPIi, m.SPIr, local)
	var sawSrc, sawDst, srcOK, dstOK bool
	for _, p := range m.Payloads {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NotifyNATDetectionSourceIP:
			sawSrc = true
			srcOK = srcOK || hmac.Equal(n.Data, src)
		case wire.NotifyNATDetectionDestinationIP:
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
