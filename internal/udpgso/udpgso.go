// Package udpgso holds what the two senders of ESP-in-UDP trains (the
// daemon's UDP mux and the userspace data plane's own sockets) share
// about Linux's UDP segmentation offload (UDP_SEGMENT, "GSO") and
// receive offload (UDP_GRO): the probes, how long a run of packets one
// GSO send may carry, and the control messages of both.
//
// A run is packets of the first one's size, then at most one shorter
// packet: the kernel cuts a GSO send into datagrams of the segment size,
// the last one possibly shorter, exactly as it would have sent them one
// by one.
package udpgso

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// MaxSegments is the kernel's UDP_MAX_SEGMENTS (64 before Linux 6.9).
	MaxSegments = 64
	// MaxBytes keeps a run within one IP packet's length (IPv6 and UDP
	// headers off 65535).
	MaxBytes = 65535 - 40 - 8
)

// ProbeGSO reports whether the UDP socket fd takes UDP_SEGMENT (Linux 4.18).
func ProbeGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// EnableGRO turns UDP_GRO on for the UDP socket fd (Linux 5.0) and
// reports whether it is on.
func EnableGRO(fd int) bool {
	return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
}

// Run returns the length of the run that starts pkts: packets of the
// first one's size, then at most one shorter packet, within MaxSegments
// and MaxBytes.
func Run(pkts [][]byte) int {
	if len(pkts) == 0 {
		return 0
	}
	seg := len(pkts[0])
	total, n := seg, 1
	for n < len(pkts) && n < MaxSegments {
		l := len(pkts[n])
		if l > seg || total+l > MaxBytes {
			break
		}
		total += l
		n++
		if l < seg {
			break // a shorter packet ends the run
		}
	}
	return n
}

// AppendSegmentCmsg appends a UDP_SEGMENT control message for segments of
// seg octets to oob.
func AppendSegmentCmsg(oob []byte, seg int) []byte {
	start := len(oob)
	oob = append(oob, make([]byte, unix.CmsgSpace(2))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[start]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[start+unix.CmsgLen(0):], uint16(seg))
	return oob
}

// Segment returns the segment size of a coalesced datagram from its
// UDP_GRO control message in oob, or 0 when there is none (a single
// datagram). It allocates nothing.
func Segment(oob []byte) int {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && len(data) >= 4 {
			return int(binary.NativeEndian.Uint32(data))
		}
		oob = rest
	}
	return 0
}
