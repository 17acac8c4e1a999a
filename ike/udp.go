package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The well-known IKE ports (RFC 7296 §2, RFC 3948).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// maxDatagram bounds one read: the largest UDP payload.
const maxDatagram = 65535

// UDPConfig says where a UDPTransport listens and how its sockets are set up.
type UDPConfig struct {
	// Addrs are the local addresses to listen on, one socket pair each. An
	// unspecified address (0.0.0.0 or ::) listens on the whole family and
	// learns each datagram's destination address from IP_PKTINFO, so replies
	// leave from the address the peer talked to. Empty means both 0.0.0.0
	// and ::.
	Addrs []netip.Addr
	// Port is the IKE port (normally IKEPort). 0 lets the kernel choose,
	// which tests and the probe's initiator side use.
	Port int
	// NATTPort is the NAT-T port (normally NATTPort): IKE behind the 4-octet
	// non-ESP marker, NAT keepalives and ESP-in-UDP. 0 lets the kernel
	// choose; negative opens no NAT-T socket.
	NATTPort int
	// Mark, when non-zero, is set as SO_MARK on every socket, so that policy
	// routing can tell our IKE packets from trapped traffic.
	Mark uint32
	// Control, when set, runs on every socket before it is bound (after
	// Mark is applied). The daemon uses it to exempt the sockets from XFRM
	// policies (IP_XFRM_POLICY bypass), which ike cannot do itself because
	// it must not import the kernel packages.
	Control func(network, address string, c syscall.RawConn) error
	// ESP, when set, receives ESP-in-UDP packets (a non-zero SPI where the
	// non-ESP marker would be) arriving on the NAT-T port: a userspace data
	// plane decapsulates them. Without it they are counted and dropped. The
	// slice is the callee's.
	ESP func(pkt []byte, local, remote netip.AddrPort)
	// Logger gets debug lines for dropped datagrams; nil discards them.
	Logger *slog.Logger
}

// UDPStats counts what the transport saw. Every dropped datagram is
// counted somewhere here.
type UDPStats struct {
	IKEIn        uint64 // IKE messages handed to the handler
	ESPIn        uint64 // ESP-in-UDP packets handed to the ESP callback
	ESPDropped   uint64 // ESP-in-UDP packets with no ESP callback
	KeepalivesIn uint64 // NAT keepalives (one 0xFF octet), ignored
	Invalid      uint64 // datagrams too short to be IKE or ESP
	Sent         uint64
	SendErrors   uint64
}

// udpSocket is one bound socket: an IKE socket or a NAT-T socket.
type udpSocket struct {
	conn     *net.UDPConn
	addr     netip.AddrPort // as bound (the port the kernel chose when 0 was asked)
	natt     bool           // marker added on send, demultiplexed on receive
	wildcard bool           // bound to an unspecified address: use pktinfo
}

// UDPTransport is IKE over UDP: the sockets on the IKE and NAT-T ports of
// the configured addresses, the non-ESP marker on the NAT-T port, and a
// read loop that hands each IKE message to a handler. It implements Sender.
type UDPTransport struct {
	cfg   UDPConfig
	log   *slog.Logger
	socks []*udpSocket

	ikeIn, espIn, espDropped, keepalives, invalid, sent, sendErrs atomic.Uint64

	closeOnce sync.Once
}

// ListenUDP opens the sockets of cfg. The caller starts reading with Serve
// and stops with Close (or by cancelling Serve's context).
func ListenUDP(ctx context.Context, cfg UDPConfig) (*UDPTransport, error) {
	t := &UDPTransport{cfg: cfg, log: cfg.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	if cfg.Port < 0 || cfg.Port > 65535 || cfg.NATTPort > 65535 {
		return nil, fmt.Errorf("ike: udp: ports %d/%d out of range", cfg.Port, cfg.NATTPort)
	}
	for _, a := range addrs {
		if !a.IsValid() {
			return nil, fmt.Errorf("ike: udp: invalid listen address")
		}
		a = a.Unmap()
		s, err := t.open(ctx, a, cfg.Port, false)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.socks = append(t.socks, s)
		if cfg.NATTPort >= 0 {
			s, err := t.open(ctx, a, cfg.NATTPort, true)
			if err != nil {
				t.Close()
				return nil, err
			}
			t.socks = append(t.socks, s)
		}
	}
	return t, nil
}

func (t *UDPTransport) open(ctx context.Context, a netip.Addr, port int, natt bool) (*udpSocket, error) {
	network := "udp4"
	if a.Is6() {
		network = "udp6"
	}
	wildcard := a.IsUnspecified()
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if t.cfg.Mark != 0 {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(t.cfg.Mark)); err != nil {
					serr = fmt.Errorf("SO_MARK %#x: %w", t.cfg.Mark, err)
					return
				}
			}
			if wildcard {
				if a.Is4() {
					serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
				} else {
					serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
				}
				if serr != nil {
					serr = fmt.Errorf("pktinfo: %w", serr)
				}
			}
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		if t.cfg.Control != nil {
			return t.cfg.Control(network, address, c)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
	if err != nil {
		kind := "IKE"
		if natt {
			kind = "NAT-T"
		}
		return nil, fmt.Errorf("ike: udp: listen on %s port %d (%s): %w", a, port, kind, err)
	}
	c := pc.(*net.UDPConn)
	bound := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return &udpSocket{conn: c, addr: netip.AddrPortFrom(a, bound.Port()), natt: natt, wildcard: wildcard}, nil
}

// LocalAddrs returns the bound IKE-port and NAT-T-port addresses, in the
// order of UDPConfig.Addrs (IKE first, then NAT-T, for each).
func (t *UDPTransport) LocalAddrs() (ike, natt []netip.AddrPort) {
	for _, s := range t.socks {
		if s.natt {
			natt = append(natt, s.addr)
		} else {
			ike = append(ike, s.addr)
		}
	}
	return ike, natt
}

// Stats returns the counters.
func (t *UDPTransport) Stats() UDPStats {
	return UDPStats{
		IKEIn: t.ikeIn.Load(), ESPIn: t.espIn.Load(), ESPDropped: t.espDropped.Load(),
		KeepalivesIn: t.keepalives.Load(), Invalid: t.invalid.Load(),
		Sent: t.sent.Load(), SendErrors: t.sendErrs.Load(),
	}
}

// socketFor picks the socket to send from: the one bound to local's port
// and address (or to the unspecified address of its family). A zero local
// means "any IKE-port socket of remote's family".
func (t *UDPTransport) socketFor(local, remote netip.AddrPort) (*udpSocket, error) {
	is4 := remote.Addr().Unmap().Is4()
	if !local.IsValid() || !local.Addr().IsValid() {
		for _, s := range t.socks {
			if !s.natt && s.addr.Addr().Is4() == is4 && (local.Port() == 0 || local.Port() == s.addr.Port()) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("ike: udp: no IKE socket for %s", remote)
	}
	la := local.Addr().Unmap()
	var wild *udpSocket
	for _, s := range t.socks {
		if s.addr.Port() != local.Port() || s.addr.Addr().Is4() != la.Is4() {
			continue
		}
		if s.addr.Addr() == la {
			return s, nil
		}
		if s.wildcard && wild == nil {
			wild = s
		}
	}
	if wild != nil {
		return wild, nil
	}
	return nil, fmt.Errorf("ike: udp: no socket bound to %s", local)
}

// Send sends one IKE message from local to remote. On the NAT-T port it
// prefixes the non-ESP marker; a NAT keepalive (the single octet 0xFF) is
// sent as it is.
func (t *UDPTransport) Send(pkt []byte, local, remote netip.AddrPort) error {
	s, err := t.socketFor(local, remote)
	if err != nil {
		t.sendErrs.Add(1)
		return err
	}
	out := pkt
	if s.natt && !(len(pkt) == 1 && pkt[0] == 0xff) {
		out = AddNonESPMarker(pkt)
	}
	return t.write(s, out, local, remote)
}

// write sends out as it is from s, from local's address when s is bound
// to the unspecified address.
func (t *UDPTransport) write(s *udpSocket, out []byte, local, remote netip.AddrPort) error {
	var oob []byte
	if s.wildcard && local.IsValid() && !local.Addr().IsUnspecified() {
		la := local.Addr().Unmap()
		if la.Is4() {
			oob = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: la.As4()})
		} else {
			oob = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: la.As16()})
		}
	}
	dst := remote
	if s.addr.Addr().Is4() {
		dst = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	}
	if _, _, err := s.conn.WriteMsgUDPAddrPort(out, oob, dst); err != nil {
		t.sendErrs.Add(1)
		return fmt.Errorf("ike: udp: send %d octets %s -> %s: %w", len(out), s.addr, remote, err)
	}
	t.sent.Add(1)
	return nil
}

// SendESP sends one ESP-in-UDP packet (RFC 3948 §2.1: the UDP payload
// starts with the SPI, no marker) from the NAT-T socket of local to remote,
// for a userspace data plane that shares the NAT-T port with IKE (the
// counterpart of UDPConfig.ESP). A packet that would read as IKE or a
// keepalive on the wire (fewer than 8 octets or a zero SPI) is refused.
func (t *UDPTransport) SendESP(pkt []byte, local, remote netip.AddrPort) error {
	if len(pkt) < 8 || pkt[0]|pkt[1]|pkt[2]|pkt[3] == 0 {
		t.sendErrs.Add(1)
		return fmt.Errorf("ike: udp: ESP-in-UDP to %s: %d octets with SPI %x is not ESP", remote, len(pkt), pkt[:min(4, len(pkt))])
	}
	s, err := t.socketFor(local, remote)
	if err != nil {
		t.sendErrs.Add(1)
		return err
	}
	if !s.natt {
		t.sendErrs.Add(1)
		return fmt.Errorf("ike: udp: ESP-in-UDP from %s: not the NAT-T port", local)
	}
	return t.write(s, pkt, local, remote)
}

// SendKeepalive sends a NAT keepalive (RFC 3948 §2.3: the single octet
// 0xFF, no marker) from the NAT-T socket of local to remote.
func (t *UDPTransport) SendKeepalive(local, remote netip.AddrPort) error {
	s, err := t.socketFor(local, remote)
	if err != nil {
		t.sendErrs.Add(1)
		return err
	}
	if !s.natt {
		t.sendErrs.Add(1)
		return fmt.Errorf("ike: udp: keepalive from %s: not the NAT-T port", local)
	}
	return t.Send([]byte{0xff}, local, remote)
}

// Handler receives one IKE message (without the non-ESP marker) with the
// local address it arrived at and the peer's address. The slice is the
// handler's to keep.
type Handler func(pkt []byte, local, remote netip.AddrPort)

// Serve reads from every socket until ctx is cancelled or Close is called,
// handing IKE messages to h (from one goroutine per socket, so h must be
// safe for concurrent use). It closes the sockets before it returns, and
// returns nil when stopped, or the first read error that is not a close.
func (t *UDPTransport) Serve(ctx context.Context, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(t.socks))
	var wg sync.WaitGroup
	for _, s := range t.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- t.readLoop(s, h)
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	t.Close()
	wg.Wait()
	if errors.Is(first, net.ErrClosed) {
		first = nil
	}
	return first
}

func (t *UDPTransport) readLoop(s *udpSocket, h Handler) error {
	buf := make([]byte, maxDatagram)
	oob := make([]byte, 128)
	for {
		n, oobn, _, from, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return net.ErrClosed
			}
			// ICMP errors (ECONNREFUSED) surface on later reads of an
			// unconnected socket; they are not fatal.
			var errno syscall.Errno
			if errors.As(err, &errno) && (errno == syscall.ECONNREFUSED || errno == syscall.EHOSTUNREACH || errno == syscall.ENETUNREACH) {
				continue
			}
			return fmt.Errorf("ike: udp: read on %s: %w", s.addr, err)
		}
		local := s.addr
		if s.wildcard {
			if dst, ok := pktinfoDst(oob[:oobn]); ok {
				local = netip.AddrPortFrom(dst, s.addr.Port())
			}
		}
		remote := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		t.dispatch(s, buf[:n], local, remote, h)
	}
}

// dispatch classifies one datagram and hands it on; d is the read buffer,
// so whatever is handed on is copied.
func (t *UDPTransport) dispatch(s *udpSocket, d []byte, local, remote netip.AddrPort, h Handler) {
	if !s.natt {
		if len(d) < HeaderLen {
			t.invalid.Add(1)
			t.log.Debug("ike: udp: datagram too short for IKE", "local", local, "remote", remote, "len", len(d))
			return
		}
		t.ikeIn.Add(1)
		h(append([]byte(nil), d...), local, remote)
		return
	}
	msg, kind := Demux4500(d)
	switch kind {
	case KindIKE:
		if len(msg) < HeaderLen {
			t.invalid.Add(1)
			t.log.Debug("ike: udp: marked datagram too short for IKE", "local", local, "remote", remote, "len", len(d))
			return
		}
		t.ikeIn.Add(1)
		h(append([]byte(nil), msg...), local, remote)
	case KindKeepalive:
		t.keepalives.Add(1)
	case KindESP:
		if t.cfg.ESP == nil {
			t.espDropped.Add(1)
			t.log.Debug("ike: udp: ESP-in-UDP without a data plane", "local", local, "remote", remote, "len", len(d))
			return
		}
		t.espIn.Add(1)
		t.cfg.ESP(append([]byte(nil), d...), local, remote)
	default:
		t.invalid.Add(1)
		t.log.Debug("ike: udp: datagram on the NAT-T port is neither IKE, ESP nor keepalive", "local", local, "remote", remote, "len", len(d))
	}
}

// pktinfoDst returns the destination address of a datagram from its
// IP_PKTINFO or IPV6_PKTINFO control message.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex(4) spec_dst(4) addr(4); addr is the header destination.
			return netip.AddrFrom4([4]byte(m.Data[8:12])), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(m.Data[0:16])), true
		}
	}
	return netip.Addr{}, false
}

// Close closes the sockets; a running Serve returns.
func (t *UDPTransport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		for _, s := range t.socks {
			if cerr := s.conn.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	})
	return err
}

var (
	_ Sender          = (*UDPTransport)(nil)
	_ KeepaliveSender = (*UDPTransport)(nil)
)
