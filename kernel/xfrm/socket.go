package xfrm

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// BypassSocket exempts one socket from every XFRM policy, both directions,
// as IKE daemons do for their own sockets: without it a trap covering the
// peer catches our IKE packets to it (they raise an ACQUIRE and are
// dropped), and an inbound ESP
// policy drops the peer's IKE and, on port 4500, the ESP-in-UDP packets
// before they are decapsulated. family is unix.AF_INET or unix.AF_INET6.
func BypassSocket(fd int, family int) error {
	level, opt := unix.IPPROTO_IP, unix.IP_XFRM_POLICY
	switch family {
	case unix.AF_INET:
	case unix.AF_INET6:
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_XFRM_POLICY
	default:
		return fmt.Errorf("xfrm: bypass socket %d: family %d is neither AF_INET nor AF_INET6", fd, family)
	}
	for _, dir := range []uint8{dirIn, dirOut} {
		b := make([]byte, sizeofPolicyInfo)
		ne.PutUint16(b[offSelFamily:], uint16(family))
		putLft(b[offPolLft:], 0, 0, 0, 0)
		b[offPolDir] = dir
		b[offPolAction] = actionAllow
		if err := unix.SetsockoptString(fd, level, opt, string(b)); err != nil {
			return fmt.Errorf("xfrm: bypass socket %d dir %d: %w", fd, dir, err)
		}
	}
	return nil
}

// EncapSocket makes a UDP socket (normally the IKE socket on port 4500) the
// receiver of ESP-in-UDP (RFC 3948): the kernel takes packets without the
// non-ESP marker off it and decapsulates them.
func EncapSocket(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
		return fmt.Errorf("xfrm: UDP_ENCAP on socket %d: %w", fd, err)
	}
	return nil
}

// BypassConn is BypassSocket for a *net.UDPConn or other syscall.Conn.
func BypassConn(c syscall.Conn, family int) error {
	return control(c, func(fd int) error { return BypassSocket(fd, family) })
}

// EncapConn is EncapSocket for a *net.UDPConn.
func EncapConn(c syscall.Conn) error {
	return control(c, EncapSocket)
}

func control(c syscall.Conn, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("xfrm: socket: %w", err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("xfrm: socket: %w", err)
	}
	return ferr
}
