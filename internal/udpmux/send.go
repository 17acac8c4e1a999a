package udpmux

import (
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"
)

// socketFor picks the socket to send from: the one bound to local's port
// and address (or to the unspecified address of its family). A zero local
// means "any IKE-port socket of remote's family".
func (m *Mux) socketFor(local, remote netip.AddrPort) (*socket, error) {
	is4 := remote.Addr().Unmap().Is4()
	if !local.IsValid() || !local.Addr().IsValid() {
		for _, s := range m.socks {
			if !s.natt && s.addr.Addr().Is4() == is4 && (local.Port() == 0 || local.Port() == s.addr.Port()) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("udpmux: no IKE socket for %s", remote)
	}
	la := local.Addr().Unmap()
	var wild *socket
	for _, s := range m.socks {
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
	return nil, fmt.Errorf("udpmux: no socket bound to %s", local)
}

// Send sends one IKE message from local to remote (ike.Sender). On the
// NAT-T port it prefixes the non-ESP marker; a NAT keepalive (the single
// octet 0xFF) is sent as it is.
func (m *Mux) Send(pkt []byte, local, remote netip.AddrPort) error {
	s, err := m.socketFor(local, remote)
	if err != nil {
		m.ctr.sendErrs.Add(1)
		return err
	}
	out := pkt
	if s.natt && !(len(pkt) == 1 && pkt[0] == 0xff) {
		out = addMarker(pkt)
	}
	return m.write(s, out, local, remote)
}

// SendESP sends one ESP-in-UDP packet (RFC 3948 §2.1: the UDP payload
// starts with the SPI, no marker) from the NAT-T socket of local to
// remote: it is a userspace data plane's EncapSend. A packet that would
// read as IKE or a keepalive on the wire (fewer than 8 octets or a zero
// SPI) is refused, and so is the IKE port.
func (m *Mux) SendESP(pkt []byte, local, remote netip.AddrPort) error {
	if !isESP(pkt) {
		m.ctr.sendErrs.Add(1)
		return fmt.Errorf("udpmux: ESP-in-UDP to %s: %d octets with SPI %x is not ESP", remote, len(pkt), pkt[:min(4, len(pkt))])
	}
	s, err := m.socketFor(local, remote)
	if err != nil {
		m.ctr.sendErrs.Add(1)
		return err
	}
	if !s.natt {
		m.ctr.sendErrs.Add(1)
		return fmt.Errorf("udpmux: ESP-in-UDP from %s: not the NAT-T port", local)
	}
	return m.write(s, pkt, local, remote)
}

// SendKeepalive sends a NAT keepalive (RFC 3948 §2.3: the single octet
// 0xFF, no marker) from the NAT-T socket of local to remote
// (ike.KeepaliveSender).
func (m *Mux) SendKeepalive(local, remote netip.AddrPort) error {
	s, err := m.socketFor(local, remote)
	if err != nil {
		m.ctr.sendErrs.Add(1)
		return err
	}
	if !s.natt {
		m.ctr.sendErrs.Add(1)
		return fmt.Errorf("udpmux: keepalive from %s: not the NAT-T port", local)
	}
	return m.write(s, []byte{0xff}, local, remote)
}

// sourceOOB is the control message that makes a wildcard socket send
// from local's address (IP_PKTINFO, IPV6_PKTINFO), or nil.
func (s *socket) sourceOOB(local netip.AddrPort) []byte {
	if !s.wildcard || !local.IsValid() || local.Addr().IsUnspecified() {
		return nil
	}
	la := local.Addr().Unmap()
	if c := s.oob.Load(); c != nil && c.addr == la {
		return c.msg // len == cap: an append (gso.go) copies
	}
	var msg []byte
	if la.Is4() {
		msg = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: la.As4()})
	} else {
		msg = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: la.As16()})
	}
	msg = slices.Clip(msg)
	s.oob.Store(&sourceCmsg{la, msg})
	return msg
}

// write sends out as it is from s, from local's address when s is bound
// to the unspecified address.
func (m *Mux) write(s *socket, out []byte, local, remote netip.AddrPort) error {
	oob := s.sourceOOB(local)
	dst := remote
	if s.addr.Addr().Is4() {
		dst = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	}
	if _, _, err := s.conn.WriteMsgUDPAddrPort(out, oob, dst); err != nil {
		m.ctr.sendErrs.Add(1)
		return fmt.Errorf("udpmux: send %d octets %s -> %s: %w", len(out), s.addr, remote, err)
	}
	m.ctr.sent.Add(1)
	return nil
}
