package userspace

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsInboundDrops sends crafted ESP from namespace A (no data plane,
// a plain raw socket) to a userspace host B. A valid packet reaches a UDP
// listener on B; its replay, a truncated copy, one with a bad ICV, one with
// an unknown SPI and one whose inner source is outside the SA's selector
// are dropped, counted by reason, and never reach the listener.
func TestNetnsInboundDrops(t *testing.T) {
	p := netnstest.NewPair(t, "usi")
	db := startDevice(t, p.B, Config{})
	// A tunnel-mode SA: inner sources 198.51.100.0/24 behind A.
	spa, spb := testPairs(t, p.A4, p.B4, kernel.ModeTunnel, kernel.AESGCM16, true)
	spa.Local = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	spb.Remote = spa.Local
	if err := db.InstallSA(context.Background(), spb); err != nil {
		t.Fatal(err)
	}
	sealer := bareDevice(mustPair(t, spa)) // A's outbound SA, in the test
	pa := sealer.pairs[spa.ID()]

	var ln *net.UDPConn
	if err := p.B.Do(func() (err error) {
		ln, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.B4.AsSlice(), Port: 8080})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var raw net.PacketConn
	if err := p.A.Do(func() (err error) {
		raw, err = net.ListenPacket("ip4:50", p.A4.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	send := func(esp []byte) {
		t.Helper()
		if _, err := raw.WriteTo(esp, &net.IPAddr{IP: p.B4.AsSlice()}); err != nil {
			t.Fatalf("send crafted ESP: %v", err)
		}
	}
	seal := func(src netip.Addr, msg string) []byte {
		buf, n := udpPacket(src, p.B4, []byte(msg))
		return sealPacket(t, sealer, pa, buf, n)
	}
	inner := netip.MustParseAddr("198.51.100.7")

	valid := seal(inner, "valid")
	send(valid)
	send(valid) // replay
	send(valid[:20])
	bad := seal(inner, "bad icv")
	bad[len(bad)-5] ^= 0x10
	send(bad)
	wrong := seal(inner, "wrong spi")
	wrong[3] ^= 0xff
	send(wrong)
	send(seal(netip.MustParseAddr("203.0.113.9"), "outside selector"))
	send(seal(inner, "valid 2"))

	var got []string
	buf := make([]byte, 2048)
	for {
		_ = ln.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := ln.ReadFromUDP(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if len(got) != 2 || got[0] != "valid" || got[1] != "valid 2" {
		t.Fatalf("listener got %q, want only the two valid datagrams", got)
	}
	want := map[string]uint64{"replay": 1, "truncated": 1, "auth": 1, "no-sa": 1, "selector": 1}
	drops := db.Stats().Dropped
	for k, v := range want {
		if drops[k] != v {
			t.Errorf("drops[%s] = %d, want %d (all: %v)", k, drops[k], v, drops)
		}
	}
	c, err := db.SACounters(context.Background(), spb.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.InPackets != 2 || c.Dropped["replay"] != 1 || c.Dropped["auth"] != 1 || c.Dropped["selector"] != 1 {
		t.Errorf("SA counters: %+v", c)
	}
}
