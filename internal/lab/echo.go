package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// EchoTCP connects from h to dst (a TCP echo service in the mesh),
// writes msg and reads it back within 5 s, and says what failed.
func (h *MeshHost) EchoTCP(ctx context.Context, dst netip.AddrPort, msg string) error {
	var conn net.Conn
	if err := h.Node.Do(func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	}); err != nil {
		return fmt.Errorf("TCP to %s: %w", dst, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		return fmt.Errorf("TCP to %s: write: %w", dst, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("TCP to %s: read %q: %w", dst, buf, err)
	}
	if string(buf) != msg {
		return fmt.Errorf("TCP to %s: read %q, want %q", dst, buf, msg)
	}
	return nil
}

// ServeEchoTCP runs a TCP echo service on h at addr (IPv4) until the
// returned stop is called: each connection gets back what it sends.
func (h *MeshHost) ServeEchoTCP(addr netip.AddrPort) (stop func(), err error) {
	var ln net.Listener
	if err := h.Node.Do(func() (err error) {
		ln, err = net.Listen("tcp4", addr.String())
		return err
	}); err != nil {
		return nil, fmt.Errorf("lab: echo service on %s at %s: %w", h.Name, addr, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return func() { ln.Close() }, nil
}
