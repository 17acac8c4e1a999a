package userspace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// sockets are the data plane's own sockets, all carrying the fwmark so that
// what they send bypasses the trap routes. They are opened in New, in the
// network namespace of the calling thread, and closed by Close.
type sockets struct {
	esp4 *ipv4.PacketConn // raw IPPROTO_ESP: outbound and inbound ESP
	esp6 *ipv6.PacketConn
	udp4 *ipv4.PacketConn // ESP-in-UDP (RFC 3948) on EncapPort
	udp6 *ipv6.PacketConn
	// gso is on while the UDP sockets take UDP_SEGMENT (gso.go); a send
	// the kernel refuses turns it off. gro4 and gro6 say UDP_GRO is on.
	gso        atomic.Bool
	gro4, gro6 bool
	clear4     net.PacketConn // raw IPPROTO_RAW: packets of pass shunts, header included
	clear6     net.PacketConn
	all        []net.PacketConn
	// inject carries ESP-in-UDP from another socket (Config.EncapSend):
	// then udp4 and udp6 are nil and SAs may still use NAT-T.
	inject *injectReader

	oobMu sync.Mutex
	oobs  map[netip.Addr][]byte // sourceOOB's, shared by the SAs from one address
}

func markControl(mark uint32, extra func(fd int) error) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
			if serr == nil && extra != nil {
				serr = extra(int(fd))
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// openSockets opens the sockets. IPv6 sockets that cannot be opened
// (IPv6 disabled) are left nil and IPv6 SAs are then refused.
func openSockets(cfg *Config) (*sockets, error) {
	s := &sockets{}
	ctx := context.Background()
	listen := func(network, addr string, extra func(int) error) (net.PacketConn, error) {
		lc := net.ListenConfig{Control: markControl(cfg.FwMark, extra)}
		c, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("open %s socket: %w", network, err)
		}
		s.all = append(s.all, c)
		return c, nil
	}
	fail := func(err error) (*sockets, error) {
		s.close()
		return nil, err
	}
	bigBuffers := func(fd int) error {
		if !cfg.Techniques.SmallSocketBuffers {
			setBigBuffers(fd)
		}
		return nil
	}

	c, err := listen("ip4:50", "0.0.0.0", bigBuffers)
	if err != nil {
		return fail(err)
	}
	s.esp4 = ipv4.NewPacketConn(c)
	if c, err = listen("ip4:255", "0.0.0.0", nil); err != nil {
		return fail(err)
	}
	s.clear4 = c
	if c, err = listen("ip6:50", "::", bigBuffers); err == nil {
		s.esp6 = ipv6.NewPacketConn(c)
		if c, err = listen("ip6:255", "::", nil); err != nil {
			return fail(err)
		}
		s.clear6 = c
	} else if !errors.Is(err, unix.EAFNOSUPPORT) {
		return fail(err)
	}
	if cfg.EncapSend != nil {
		s.inject = newInjectReader(cfg.InjectQueue)
	} else if !cfg.NoEncap {
		port := fmt.Sprintf(":%d", cfg.EncapPort)
		if c, err = listen("udp4", "0.0.0.0"+port, bigBuffers); err != nil {
			return fail(err)
		}
		s.udp4 = ipv4.NewPacketConn(c)
		gso := !cfg.NoOffloads && !cfg.Techniques.NoUDPGSO
		s.gro4, gso = s.udpOffloads(c, cfg, gso)
		if s.esp6 != nil {
			if c, err = listen("udp6", "[::]"+port, bigBuffers); err != nil {
				return fail(err)
			}
			s.udp6 = ipv6.NewPacketConn(c)
			s.gro6, gso = s.udpOffloads(c, cfg, gso)
		}
		s.gso.Store(gso)
	}
	return s, nil
}

// socketBufferSize is what the ESP sockets ask for each way. A burst of
// GSO runs from the peer (64 datagrams each) overflows the default 208 KiB
// receive queue, and every datagram lost there is a TCP retransmission
// inside the tunnel.
const socketBufferSize = 7 << 20

// setBigBuffers sizes the socket's queues, best effort: SO_RCVBUFFORCE
// and SO_SNDBUFFORCE go past net.core.rmem_max and wmem_max with
// CAP_NET_ADMIN, which the data plane has; without it the plain options
// give what the limits allow.
func setBigBuffers(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufferSize) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBufferSize)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufferSize) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBufferSize)
	}
}

// udpOffloads probes GSO on a UDP socket and turns GRO on unless cfg
// has them off; gso comes back true only if it was and the socket has it.
func (s *sockets) udpOffloads(c net.PacketConn, cfg *Config, gso bool) (gro, gsoOK bool) {
	uc, ok := c.(*net.UDPConn)
	if cfg.NoOffloads || !ok {
		return false, false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return false, false
	}
	if !cfg.Techniques.NoUDPGRO {
		gro = enableGRO(rc)
	}
	return gro, gso && probeGSO(rc)
}

func (s *sockets) close() {
	for _, c := range s.all {
		_ = c.Close()
	}
	if s.inject != nil {
		s.inject.close()
	}
}

// sourceOOB returns the control message that makes the kernel send from
// src, made once per source address and shared (read-only) by its SAs.
func (s *sockets) sourceOOB(src netip.Addr) []byte {
	s.oobMu.Lock()
	defer s.oobMu.Unlock()
	if b, ok := s.oobs[src]; ok {
		return b
	}
	if s.oobs == nil {
		s.oobs = make(map[netip.Addr][]byte)
	}
	b := sourceOOB(src)
	s.oobs[src] = b
	return b
}

// sourceOOB returns the control message that makes the kernel send from
// src (IP_PKTINFO / IPV6_PKTINFO).
func sourceOOB(src netip.Addr) []byte {
	if src.Is4() {
		cm := ipv4.ControlMessage{Src: src.AsSlice()}
		return cm.Marshal()
	}
	cm := ipv6.ControlMessage{Src: src.AsSlice()}
	return cm.Marshal()
}
