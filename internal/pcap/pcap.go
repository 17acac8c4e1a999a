// Package pcap reads classic libpcap capture files and extracts UDP
// datagrams from them. It exists so that tests can replay the IKE captures
// in testdata/captures without a dependency on gopacket or libpcap.
//
// It handles only what those captures use: the classic (not pcapng) format
// in either byte order, Ethernet or raw-IP link types, IPv4 and IPv6 without
// extension headers, and UDP. Other packets are skipped, never misparsed.
package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Link types this reader understands.
const (
	linkEthernet = 1
	linkRaw      = 101
	linkLinuxSLL = 113
)

// Datagram is one UDP datagram from a capture.
type Datagram struct {
	Index   int // 0-based index of the packet in the file
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Payload []byte
}

// ReadUDP returns every UDP datagram in the capture r, in file order.
func ReadUDP(r io.Reader) ([]Datagram, error) {
	var gh [24]byte
	if _, err := io.ReadFull(r, gh[:]); err != nil {
		return nil, fmt.Errorf("pcap: global header: %w", err)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(gh[0:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic %x (pcapng is not supported)", gh[0:4])
	}
	link := bo.Uint32(gh[20:24]) & 0x0fffffff
	var out []Datagram
	for i := 0; ; i++ {
		var ph [16]byte
		if _, err := io.ReadFull(r, ph[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("pcap: packet %d header: %w", i, err)
		}
		incl := bo.Uint32(ph[8:12])
		if incl > 1<<20 {
			return nil, fmt.Errorf("pcap: packet %d: captured length %d too large", i, incl)
		}
		data := make([]byte, incl)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("pcap: packet %d data: %w", i, err)
		}
		if d, ok := udpFromLink(link, data); ok {
			d.Index = i
			out = append(out, d)
		}
	}
}

func udpFromLink(link uint32, b []byte) (Datagram, bool) {
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return Datagram{}, false
		}
		et := binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		for et == 0x8100 && len(b) >= 4 { // 802.1Q tag
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
		if et != 0x0800 && et != 0x86dd {
			return Datagram{}, false
		}
	case linkLinuxSLL:
		if len(b) < 16 {
			return Datagram{}, false
		}
		b = b[16:]
	case linkRaw:
	default:
		return Datagram{}, false
	}
	return udpFromIP(b)
}

func udpFromIP(b []byte) (Datagram, bool) {
	if len(b) < 1 {
		return Datagram{}, false
	}
	var src, dst netip.Addr
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return Datagram{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || total < ihl || total > len(b) || b[9] != 17 {
			return Datagram{}, false
		}
		if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 { // fragment
			return Datagram{}, false
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:total]
	case 6:
		if len(b) < 40 || b[6] != 17 {
			return Datagram{}, false
		}
		plen := int(binary.BigEndian.Uint16(b[4:6]))
		if 40+plen > len(b) {
			return Datagram{}, false
		}
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40 : 40+plen]
	default:
		return Datagram{}, false
	}
	if len(l4) < 8 {
		return Datagram{}, false
	}
	ulen := int(binary.BigEndian.Uint16(l4[4:6]))
	if ulen < 8 || ulen > len(l4) {
		return Datagram{}, false
	}
	return Datagram{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])),
		Payload: l4[8:ulen],
	}, true
}
