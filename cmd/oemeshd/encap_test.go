package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// TestEncapLink: before the transport exists the device's sends fail
// (and are counted by the device as send errors), inbound ESP with no
// device is dropped, and once the transport is set ESP-in-UDP leaves its
// NAT-T socket as it is, without the non-ESP marker.
func TestEncapLink(t *testing.T) {
	l := &encapLink{}
	esp := []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa}
	if err := l.send(esp, netip.AddrPort{}, netip.MustParseAddrPort("127.0.0.1:4500")); !errors.Is(err, errNoTransport) {
		t.Errorf("send without a transport: %v", err)
	}
	l.receive(esp, netip.AddrPort{}, netip.AddrPort{}) // no device yet: dropped, no panic

	lo := netip.MustParseAddr("127.0.0.1")
	tr, err := ike.ListenUDP(context.Background(), ike.UDPConfig{Addrs: []netip.Addr{lo}, ESP: l.receive})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l.transport.Store(tr)
	_, natt := tr.LocalAddrs()
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := l.send(esp, natt[0], peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || !bytes.Equal(buf[:n], esp) || from != natt[0] {
		t.Errorf("on the wire: %x from %v (%v), want %x from %v", buf[:n], from, err, esp, natt[0])
	}
}
