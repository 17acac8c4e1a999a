package udpmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP segmentation offload (GSO, UDP_SEGMENT) for ESP-in-UDP a data plane
// sends through the NAT-T socket in trains (SendESPBatch). A run of
// equal-sized packets (the last may be shorter) goes down as one sendmsg
// whose iovecs are the packets, with the segment size in a control
// message; the kernel sends the same datagrams it would have sent one by
// one. Probed when the socket opens; a send the kernel refuses with EIO
// (the route's device cannot checksum it) turns it off for that socket.

const (
	// maxGSOSegments is the kernel's UDP_MAX_SEGMENTS (64 before Linux
	// 6.9); maxGSOBytes keeps a run within one IP packet's length.
	maxGSOSegments = 64
	maxGSOBytes    = 65535 - 40 - 8
)

// probeGSO reports whether fd takes UDP_SEGMENT (Linux 4.18).
func probeGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// gsoRun returns the length of the run that starts pkts: packets of the
// first one's size, then at most one shorter packet, within the kernel's
// bounds on segments and bytes.
func gsoRun(pkts [][]byte) int {
	if len(pkts) == 0 {
		return 0
	}
	seg := len(pkts[0])
	total, n := seg, 1
	for n < len(pkts) && n < maxGSOSegments {
		l := len(pkts[n])
		if l > seg || total+l > maxGSOBytes {
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

// SendESPBatch sends a train of ESP-in-UDP packets of one SA from the
// NAT-T socket of local to remote, in order: runs of equal size as one
// GSO send where the socket has it, the rest one by one. It returns how
// many packets went out; it stops at the first that did not. It is a
// userspace data plane's EncapSendBatch.
func (m *Mux) SendESPBatch(pkts [][]byte, local, remote netip.AddrPort) (int, error) {
	for i, p := range pkts {
		if !isESP(p) {
			m.ctr.sendErrs.Add(uint64(len(pkts)))
			return 0, fmt.Errorf("udpmux: ESP-in-UDP to %s: packet %d, %d octets with SPI %x, is not ESP", remote, i, len(p), p[:min(4, len(p))])
		}
	}
	s, err := m.socketFor(local, remote)
	if err != nil {
		m.ctr.sendErrs.Add(uint64(len(pkts)))
		return 0, err
	}
	if !s.natt {
		m.ctr.sendErrs.Add(uint64(len(pkts)))
		return 0, fmt.Errorf("udpmux: ESP-in-UDP from %s: not the NAT-T port", local)
	}
	sent := 0
	for sent < len(pkts) {
		n := 1
		if s.gso.Load() {
			n = gsoRun(pkts[sent:])
		}
		if n == 1 {
			if err := m.write(s, pkts[sent], local, remote); err != nil {
				return sent, err
			}
			sent++
			continue
		}
		err := m.writeGSO(s, pkts[sent:sent+n], local, remote)
		switch {
		case err == nil:
			m.ctr.sent.Add(uint64(n))
			sent += n
		case errors.Is(err, unix.EIO):
			if s.gso.Swap(false) {
				m.log.Info("udpmux: UDP GSO refused by the kernel; sending ESP-in-UDP one datagram at a time", "socket", s.addr, "err", err)
			}
		default:
			m.ctr.sendErrs.Add(uint64(n))
			return sent, fmt.Errorf("udpmux: send %d ESP-in-UDP packets %s -> %s: %w", n, s.addr, remote, err)
		}
	}
	return sent, nil
}

// writeGSO sends run as one UDP_SEGMENT message from s.
func (m *Mux) writeGSO(s *socket, run [][]byte, local, remote netip.AddrPort) error {
	oob := appendSegmentCmsg(s.sourceOOB(local), len(run[0]))
	to := sockaddr(s, remote)
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgBuffers(int(fd), run, oob, to, 0)
		return !errors.Is(serr, syscall.EAGAIN)
	}); err != nil {
		return err
	}
	return serr
}

// sockaddr is remote as s's family needs it.
func sockaddr(s *socket, remote netip.AddrPort) unix.Sockaddr {
	a := remote.Addr().Unmap()
	if s.addr.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(remote.Port()), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(remote.Port()), Addr: a.As16()}
}

// appendSegmentCmsg appends a UDP_SEGMENT control message for segments of
// size seg to oob.
func appendSegmentCmsg(oob []byte, seg int) []byte {
	start := len(oob)
	oob = append(oob, make([]byte, unix.CmsgSpace(2))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[start]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[start+unix.CmsgLen(0):], uint16(seg))
	return oob
}
