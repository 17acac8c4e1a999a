package userspace

import (
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// FuzzInbound feeds arbitrary bytes to the inbound path as each socket
// delivers them (raw IPv4 with header, raw IPv6 without, ESP-in-UDP) with
// an SA installed whose keys produced the seeds. It must never panic, and a
// packet it delivers must be a well-formed IP packet inside the SA's
// selectors.
func FuzzInbound(f *testing.F) {
	for _, mode := range []kernel.Mode{kernel.ModeTransport, kernel.ModeTunnel} {
		spa, _ := testPairs(f, addrA, addrB, mode, kernel.AESGCM16, true)
		da := bareDevice(mustPair(f, spa))
		buf, n := udpPacket(addrA, addrB, []byte("seed"))
		esp := sealPacket(f, da, da.pairs[spa.ID()], buf, n)
		f.Add(uint8(rxESP4), byte(mode-kernel.ModeTransport), withIPv4Header(addrA, addrB, esp))
		f.Add(uint8(rxESP6), byte(mode-kernel.ModeTransport), esp)
		f.Add(uint8(rxUDP4), byte(mode-kernel.ModeTransport), esp)
	}
	f.Add(uint8(rxUDP4), byte(0), []byte{0xff})
	f.Add(uint8(rxUDP4), byte(0), []byte{0, 0, 0, 0, 1, 2})
	f.Add(uint8(rxESP4), byte(0), []byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, kind uint8, mode byte, wire []byte) {
		if len(wire) > maxMTU {
			return
		}
		_, spb := testPairs(t, addrA, addrB, kernel.Mode(mode%2)+kernel.ModeTransport, kernel.AESGCM16, true)
		db := bareDevice(mustPair(t, spb))
		got, r := receive(db, rxKind(kind%4), wire)
		if r != dropNone {
			return
		}
		if got == nil {
			return // keepalive or non-ESP
		}
		ip, ok := parseIP(got)
		if !ok || ip.totalLen != len(got) {
			t.Fatalf("delivered a malformed packet %x", got)
		}
		if ip.src != addrA || ip.dst != addrB {
			t.Fatalf("delivered %s → %s outside the selectors", ip.src, ip.dst)
		}
	})
}

// FuzzParseIP checks the IP header parser on arbitrary bytes.
func FuzzParseIP(f *testing.F) {
	buf, n := udpPacket(addrA, addrB, []byte("x"))
	f.Add(append([]byte(nil), buf[bufHeadroom:bufHeadroom+n]...))
	buf, n = udpPacket(addrA6, addrB6, []byte("x"))
	f.Add(append([]byte(nil), buf[bufHeadroom:bufHeadroom+n]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := parseIP(b)
		if ok && (ip.totalLen > len(b) || ip.hdrLen > ip.totalLen) {
			t.Fatalf("lengths %d/%d outside %d bytes", ip.hdrLen, ip.totalLen, len(b))
		}
	})
}
