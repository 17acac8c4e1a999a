package ike

import (
	"crypto/sha1"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

func TestNATDetectionHash(t *testing.T) {
	spii, spir := SPI{1, 2, 3, 4, 5, 6, 7, 8}, SPI{}
	ap := netip.MustParseAddrPort("192.0.2.1:500")
	want := sha1.Sum(append(append(append(spii[:], spir[:]...), 192, 0, 2, 1), 0x01, 0xf4))
	if got := NATDetectionHash(spii, spir, ap); string(got) != string(want[:]) {
		t.Errorf("hash %x, want %x", got, want)
	}
	// IPv4-mapped IPv6 hashes as IPv4; IPv6 as 16 octets.
	if string(NATDetectionHash(spii, spir, netip.MustParseAddrPort("[::ffff:192.0.2.1]:500"))) != string(want[:]) {
		t.Errorf("mapped address hashed differently")
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:4500")
	a16 := v6.Addr().As16()
	want6 := sha1.Sum(append(append(append(spii[:], spir[:]...), a16[:]...), 0x11, 0x94))
	if string(NATDetectionHash(spii, spir, v6)) != string(want6[:]) {
		t.Errorf("IPv6 hash")
	}

	local, remote := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	m := &wire.Message{Header: wire.Header{SPIi: spii}}
	for _, n := range natDetectionNotifies(spii, spir, remote, local) { // as the peer sent them
		m.Payloads = append(m.Payloads, n)
	}
	if st := detectNAT(m, local, remote); st != (NATStatus{Checked: true}) {
		t.Errorf("no NAT: %+v", st)
	}
	if st := detectNAT(m, local, netip.MustParseAddrPort("203.0.113.9:1024")); st != (NATStatus{Checked: true, RemoteBehindNAT: true}) {
		t.Errorf("remote NAT: %+v", st)
	}
	if st := detectNAT(m, netip.MustParseAddrPort("10.0.0.1:500"), remote); st != (NATStatus{Checked: true, LocalBehindNAT: true}) {
		t.Errorf("local NAT: %+v", st)
	}
	if st := detectNAT(&wire.Message{}, local, remote); st.Checked {
		t.Errorf("checked without notifies")
	}
}

func TestCookies(t *testing.T) {
	clk := clocktest.NewAt(time.Unix(1_700_000_000, 0))
	c := &Cookies{Now: clk.Now, Rotate: time.Minute}
	ni := make([]byte, 32)
	ip := netip.MustParseAddr("192.0.2.1")
	spi := SPI{1}
	ck, err := c.Make(ni, ip, spi)
	if err != nil || len(ck) != 17 {
		t.Fatalf("cookie %x %v", ck, err)
	}
	if !c.Verify(ck, ni, ip, spi) {
		t.Fatal("fresh cookie refused")
	}
	for name, ok := range map[string]bool{
		"other SPI":   c.Verify(ck, ni, ip, SPI{2}),
		"other IP":    c.Verify(ck, ni, netip.MustParseAddr("192.0.2.9"), spi),
		"other nonce": c.Verify(ck, make([]byte, 31), ip, spi),
		"truncated":   c.Verify(ck[:10], ni, ip, spi),
	} {
		if ok {
			t.Errorf("%s accepted", name)
		}
	}
	// After one rotation the old cookie still works, and new cookies differ.
	clk.Advance(61 * time.Second)
	if !c.Verify(ck, ni, ip, spi) {
		t.Error("cookie refused right after rotation")
	}
	ck2, _ := c.Make(ni, ip, spi)
	if string(ck2) == string(ck) || !c.Verify(ck2, ni, ip, spi) {
		t.Error("new secret not in use")
	}
	// After two rotations the first cookie is dead.
	clk.Advance(61 * time.Second)
	if c.Verify(ck, ni, ip, spi) {
		t.Error("cookie accepted two secrets later")
	}
	// A long idle gap expires both secrets at once.
	clk.Advance(time.Hour)
	ck3, _ := c.Make(ni, ip, spi)
	clk.Advance(time.Second)
	if c.Verify(ck2, ni, ip, spi) || !c.Verify(ck3, ni, ip, spi) {
		t.Error("stale secret survived an idle hour")
	}
	n, _ := c.Notify(ni, ip, spi)
	if n.NotifyType != wire.NotifyCookie || !c.Verify(n.Data, ni, ip, spi) {
		t.Error("COOKIE notify")
	}
}
