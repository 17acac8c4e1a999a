package udpmux

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/oemesh/oemesh/internal/udpgso"
	"golang.org/x/sys/unix"
)

// UDP segmentation offload (GSO, UDP_SEGMENT) for ESP-in-UDP a data plane
// sends through the NAT-T socket in trains (SendESPBatch). A run of
// equal-sized packets (the last may be shorter) goes down as one sendmsg
// whose iovecs are the packets, with the segment size in a control
// message; the kernel sends the same datagrams it would have sent one by
// one. Probed when the socket opens; a send the kernel refuses with EIO
// (the route's device cannot checksum it) turns it off for that socket.

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
			n = udpgso.Run(pkts[sent:])
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
	oob := udpgso.AppendSegmentCmsg(s.sourceOOB(local), len(run[0]))
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
