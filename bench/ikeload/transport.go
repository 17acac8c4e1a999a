package main

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
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/udpmux"
)

// transport is the initiators' network: two IPv4 UDP sockets on the
// wildcard address, the IKE port and the NAT-T port, shared by every
// source address. Each datagram names its own source address (IP_PKTINFO
// on send) and reports the address it arrived at (IP_PKTINFO on receive),
// so N initiators cost two sockets, not 2N. IP_FREEBIND lets a source
// address be one the namespace only routes to itself (a "local" route
// for the whole prefix on lo, as the netns set-up makes), not one
// configured on an interface.
//
// It implements ike.Sender. The NAT-T socket adds the non-ESP marker on
// send and strips it on receive (udpmux.Classify); ESP and keepalives
// arriving there are counted and dropped: the initiators are load, not a
// data plane.
type transport struct {
	ike, natt *ipv4.PacketConn
	ikeConn   net.PacketConn
	nattConn  net.PacketConn
	ports     [2]uint16 // the IKE and NAT-T ports we bound

	dropped atomic.Uint64 // datagrams that were not IKE
	sendErr atomic.Uint64

	closeOnce sync.Once
}

// listenTransport opens the two sockets in the calling thread's network
// namespace. Port 0 picks any free port.
func listenTransport(ctx context.Context, ikePort, nattPort int) (*transport, error) {
	t := &transport{}
	var err error
	if t.ikeConn, t.ike, err = listenFreebind(ctx, ikePort); err != nil {
		return nil, fmt.Errorf("IKE socket on port %d: %w", ikePort, err)
	}
	if t.nattConn, t.natt, err = listenFreebind(ctx, nattPort); err != nil {
		t.ikeConn.Close()
		return nil, fmt.Errorf("NAT-T socket on port %d: %w", nattPort, err)
	}
	t.ports[0] = uint16(t.ikeConn.LocalAddr().(*net.UDPAddr).Port)
	t.ports[1] = uint16(t.nattConn.LocalAddr().(*net.UDPAddr).Port)
	return t, nil
}

func listenFreebind(ctx context.Context, port int) (net.PacketConn, *ipv4.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1); serr != nil {
				serr = fmt.Errorf("IP_FREEBIND: %w", serr)
				return
			}
			// Many initiators share the socket: a deep receive queue
			// keeps a burst of answers from being dropped.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, nil, err
	}
	p := ipv4.NewPacketConn(c)
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("IP_PKTINFO: %w", err)
	}
	return c, p, nil
}

// Send implements ike.Sender: pkt goes from local (its address, and the
// NAT-T socket when its port is ours) to remote.
func (t *transport) Send(pkt []byte, local, remote netip.AddrPort) error {
	conn, msg := t.ike, pkt
	if local.Port() == t.ports[1] {
		conn, msg = t.natt, append(append(make([]byte, 0, 4+len(pkt)), 0, 0, 0, 0), pkt...)
	}
	var cm *ipv4.ControlMessage
	if local.Addr().IsValid() {
		cm = &ipv4.ControlMessage{Src: local.Addr().AsSlice()}
	}
	if _, err := conn.WriteTo(msg, cm, net.UDPAddrFromAddrPort(remote)); err != nil {
		t.sendErr.Add(1)
		return fmt.Errorf("send from %v to %v: %w", local, remote, err)
	}
	return nil
}

// serve reads both sockets with workers goroutines each and hands every
// IKE message to handle until ctx ends or the sockets close. The
// engine's crypto runs in handle, so more than one reader keeps every
// core busy.
func (t *transport) serve(ctx context.Context, workers int, handle udpmux.Handler) error {
	stop := context.AfterFunc(ctx, func() { t.close() })
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 2*workers)
	for i, c := range []*ipv4.PacketConn{t.ike, t.natt} {
		natt := i == 1
		for range workers {
			wg.Go(func() { errc <- t.read(c, natt, handle) })
		}
	}
	wg.Wait()
	close(errc)
	if ctx.Err() != nil {
		return nil
	}
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *transport) read(c *ipv4.PacketConn, natt bool, handle udpmux.Handler) error {
	buf := make([]byte, 65536)
	port := t.ports[0]
	if natt {
		port = t.ports[1]
	}
	for {
		n, cm, src, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		msg, kind := udpmux.Classify(buf[:n], natt)
		ua, ok := src.(*net.UDPAddr)
		if kind != udpmux.KindIKE || cm == nil || !ok {
			t.dropped.Add(1)
			continue
		}
		local, ok := netip.AddrFromSlice(cm.Dst)
		if !ok {
			t.dropped.Add(1)
			continue
		}
		// The handler keeps the slice: give it its own copy.
		handle(append([]byte(nil), msg...), netip.AddrPortFrom(local.Unmap(), port), ua.AddrPort())
	}
}

func (t *transport) close() {
	t.closeOnce.Do(func() {
		t.ikeConn.Close()
		t.nattConn.Close()
	})
}
