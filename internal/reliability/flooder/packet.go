package flooder

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// Offsets in the packets a Flooder builds: a 20-octet IPv4 header, the
// 8-octet UDP header, then the IKE message of InitRequest: its header
// (28), the SA payload (40), the KE payload (8 + 32) and the Nonce
// payload (4 + 32).
const (
	ipHeaderLen  = 20
	udpHeaderLen = 8
	ikeOffset    = ipHeaderLen + udpHeaderLen
	spiOffset    = ikeOffset               // the initiator's SPI
	keOffset     = ikeOffset + 28 + 40 + 8 // the KE payload's public value
	nonceOffset  = keOffset + 32 + 4       // the nonce
)

// InitRequest is a well-formed IKE_SA_INIT request that oemeshd's and
// strongSwan's default proposals accept: AES-GCM-16-256, PRF-HMAC-SHA2-256,
// Curve25519 with a random public value, and a random 32-octet nonce,
// from initiator SPI spi.
func InitRequest(r *rand.Rand, spi uint64) []byte {
	transforms := []byte{
		3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0, // ENCR_AES_GCM_16, key length 256
		3, 0, 0, 8, 2, 0, 0, 5, // PRF_HMAC_SHA2_256
		0, 0, 0, 8, 4, 0, 0, 31, // Curve25519
	}
	proposal := append([]byte{0, 0, 0, byte(8 + len(transforms)), 1, 1, 0, 3}, transforms...)
	sa := append([]byte{34, 0, 0, byte(4 + len(proposal))}, proposal...)
	ke := append([]byte{40, 0, 0, 8 + 32, 0, 31, 0, 0}, randBytes(r, 32)...)
	nonce := append([]byte{0, 0, 0, 4 + 32}, randBytes(r, 32)...)
	body := append(append(sa, ke...), nonce...)
	h := make([]byte, 28, 28+len(body))
	binary.BigEndian.PutUint64(h[0:], spi)
	h[16], h[17], h[18], h[19] = 33, 0x20, 34, 0x08 // SA first, IKEv2, IKE_SA_INIT, initiator
	binary.BigEndian.PutUint32(h[24:], uint32(28+len(body)))
	return append(h, body...)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// template is an IPv4/UDP packet around an IKE_SA_INIT request toward dst;
// stamp makes each copy a new request from a new source.
type template struct {
	pkt []byte
}

func newTemplate(r *rand.Rand, dst netip.AddrPort, srcPort uint16) template {
	ike := InitRequest(r, 1)
	pkt := make([]byte, ikeOffset+len(ike))
	pkt[0] = 0x45 // IPv4, 5 words of header
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8] = 64 // TTL
	pkt[9] = 17 // UDP
	d := dst.Addr().As4()
	copy(pkt[16:20], d[:])
	// The kernel fills in the IP checksum and, while it is 0, the ID; a
	// UDP checksum of 0 means none (RFC 768).
	binary.BigEndian.PutUint16(pkt[20:], srcPort)
	binary.BigEndian.PutUint16(pkt[22:], dst.Port())
	binary.BigEndian.PutUint16(pkt[24:], uint16(udpHeaderLen+len(ike)))
	copy(pkt[ikeOffset:], ike)
	return template{pkt: pkt}
}

// stamp gives the packet source src, a fresh SPI and fresh octets of the
// nonce and the public value: every copy is a distinct request that the
// responder cannot recognise as a retransmission.
func (t template) stamp(r *rand.Rand, src netip.Addr) {
	s := src.As4()
	copy(t.pkt[12:16], s[:])
	binary.BigEndian.PutUint64(t.pkt[spiOffset:], r.Uint64()|1)
	binary.BigEndian.PutUint64(t.pkt[nonceOffset:], r.Uint64())
	binary.BigEndian.PutUint64(t.pkt[keOffset:], r.Uint64())
}
