package main

import (
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/userspace"
)

// encapLink joins the userspace data plane and the IKE transport on the
// NAT-T port, which they share (RFC 3948): the transport owns the socket,
// hands ESP-in-UDP it receives to the device (UDPConfig.ESP →
// InjectEncap) and sends the device's sealed packets without the non-ESP
// marker (userspace.Config.EncapSend → UDPTransport.SendESP). The data
// plane starts before the transport exists, so the link is filled in
// between.
type encapLink struct {
	transport atomic.Pointer[ike.UDPTransport]
	dev       atomic.Pointer[userspace.Device]
}

var errNoTransport = errors.New("ESP-in-UDP: the IKE transport is not open")

// send is the device's EncapSend.
func (l *encapLink) send(pkt []byte, local, remote netip.AddrPort) error {
	t := l.transport.Load()
	if t == nil {
		return errNoTransport
	}
	return t.SendESP(pkt, local, remote)
}

// receive is the transport's ESP callback.
func (l *encapLink) receive(pkt []byte, local, remote netip.AddrPort) {
	if d := l.dev.Load(); d != nil {
		d.InjectEncap(pkt, local, remote)
	}
}
