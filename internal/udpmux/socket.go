package udpmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/udpgso"
	"github.com/oemesh/oemesh/kernel/xfrm"
)

// socket is one bound socket: an IKE socket or a NAT-T socket.
type socket struct {
	conn     *net.UDPConn
	addr     netip.AddrPort // as bound (the port the kernel chose when 0 was asked)
	natt     bool           // marker added on send, demultiplexed on receive
	wildcard bool           // bound to an unspecified address: use pktinfo
	gso      atomic.Bool    // a NAT-T socket that takes UDP_SEGMENT (gso.go)
	gro      bool           // a NAT-T socket read with UDP_GRO (gro.go)
	// oob is the last source control message built (sourceOOB): a
	// responder sends from one address, so each send reuses it.
	oob atomic.Pointer[sourceCmsg]
}

// sourceCmsg is a pktinfo control message and the address it names. The
// message is shared between sends and read only.
type sourceCmsg struct {
	addr netip.Addr
	msg  []byte
}

func (s *socket) kind() string {
	if s.natt {
		return "NAT-T"
	}
	return "IKE"
}

// open binds one socket and sets it up: SO_MARK, pktinfo on a wildcard
// address, the XFRM bypass, UDP_ENCAP on the NAT-T port, then the
// caller's Control hook.
func (m *Mux) open(ctx context.Context, a netip.Addr, port int, natt bool) (*socket, error) {
	s := &socket{natt: natt, wildcard: a.IsUnspecified()}
	network, family := "udp4", unix.AF_INET
	if a.Is6() {
		network, family = "udp6", unix.AF_INET6
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = m.setup(int(fd), family, s, address) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		if m.cfg.Control != nil {
			return m.cfg.Control(network, address, c)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
	if err != nil {
		return nil, fmt.Errorf("udpmux: listen on %s port %d (%s): %w", a, port, s.kind(), err)
	}
	s.conn = pc.(*net.UDPConn)
	bound := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.addr = netip.AddrPortFrom(a, bound.Port())
	return s, nil
}

// setup sets the socket options of Config on fd.
func (m *Mux) setup(fd, family int, s *socket, address string) error {
	if m.cfg.Mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(m.cfg.Mark)); err != nil {
			return fmt.Errorf("SO_MARK %#x: %w", m.cfg.Mark, err)
		}
	}
	if s.wildcard {
		var err error
		if family == unix.AF_INET {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
		if err != nil {
			return fmt.Errorf("pktinfo: %w", err)
		}
	}
	switch m.cfg.Bypass {
	case BypassRequired:
		if err := xfrm.BypassSocket(fd, family); err != nil {
			return err
		}
	case BypassIfPermitted:
		if err := xfrm.BypassSocket(fd, family); errors.Is(err, unix.EPERM) {
			m.log.Warn("IKE socket not exempt from IPsec policies (needs CAP_NET_ADMIN)", "socket", address, "err", err)
		} else if err != nil {
			return err
		}
	}
	if s.natt && m.cfg.KernelEncap {
		if err := xfrm.EncapSocket(fd); err != nil {
			return err
		}
	}
	// ESP-in-UDP the kernel sends (KernelEncap) does not pass here; what
	// a userspace data plane sends does, in trains.
	s.gso.Store(s.natt && !m.cfg.KernelEncap && !m.cfg.NoGSO && udpgso.ProbeGSO(fd))
	s.gro = s.natt && !m.cfg.KernelEncap && m.cfg.GRO &&
		unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	return nil
}
