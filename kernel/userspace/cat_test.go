package userspace

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/kernel"
)

// setL4Checksum computes the TCP, UDP or ICMPv6 checksum of pkt from
// scratch, the slow way (the reference refChecksumOK checks against).
func setL4Checksum(pkt []byte) {
	ip, _ := parseIP(pkt)
	seg := pkt[ip.hdrLen:ip.totalLen]
	at := map[uint8]int{protoTCP: 16, protoUDP: 6, protoICMPv6: 2, protoICMP: 2}[ip.l4proto]
	seg[at], seg[at+1] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for i := 0; i < len(b); i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < len(b) {
				w |= uint32(b[i+1])
			}
			sum += w
		}
	}
	if ip.l4proto != protoICMP { // ICMPv4 has no pseudo-header
		add(ip.src.AsSlice())
		add(ip.dst.AsSlice())
		sum += uint32(ip.l4proto) + uint32(len(seg))
	}
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	cs := ^uint16(sum)
	if cs == 0 && ip.l4proto == protoUDP {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(seg[at:], cs)
}

// icmpOK verifies an ICMPv4 checksum from scratch.
func icmpOK(pkt []byte) bool {
	ip, _ := parseIP(pkt)
	seg := bytes.Clone(pkt[ip.hdrLen:ip.totalLen])
	if len(seg)%2 == 1 {
		seg = append(seg, 0) // the odd byte is padded with zero (RFC 1071)
	}
	return ipv4Checksum(seg) == 0
}

// l4Packet builds an IP packet src → dst of protocol proto (TCP, UDP,
// ICMP or ICMPv6) with n bytes of payload and correct checksums, laid
// out as the TUN reader leaves it.
func l4Packet(src, dst netip.Addr, proto uint8, n int) (*packetBuf, int) {
	buf := new(packetBuf)
	pkt := buf[bufHeadroom:]
	hl := ipv4HeaderLen
	if src.Is6() {
		hl = ipv6HeaderLen
	}
	hdr := map[uint8]int{protoTCP: 20, protoUDP: 8, protoICMP: 8, protoICMPv6: 8}[proto]
	seg := pkt[hl : hl+hdr+n]
	for i := range seg {
		seg[i] = byte(i*7 + 3)
	}
	switch proto {
	case protoTCP:
		seg[12] = 5 << 4
	case protoUDP:
		binary.BigEndian.PutUint16(seg[4:6], uint16(len(seg)))
	case protoICMP, protoICMPv6:
		seg[0], seg[1] = 8, 0 // echo request
		if proto == protoICMPv6 {
			seg[0] = 128
		}
	}
	if src.Is4() {
		writeIPv4Header(pkt, src, dst, proto, 0, 64, hl+len(seg))
	} else {
		writeIPv6Header(pkt, src, dst, proto, 0, 64, len(seg))
	}
	setL4Checksum(pkt[:hl+len(seg)])
	return buf, hl + len(seg)
}

// checksumsOK verifies every checksum of pkt from scratch, and, for
// IPv4, that x/net/ipv4 parses its header with addresses src → dst.
func checksumsOK(t *testing.T, pkt []byte, src, dst netip.Addr) {
	t.Helper()
	ip, ok := parseIP(pkt)
	if !ok || ip.src != src || ip.dst != dst {
		t.Fatalf("packet %s → %s, want %s → %s", ip.src, ip.dst, src, dst)
	}
	if !ip.v6 {
		if ipv4Checksum(pkt[:ip.hdrLen]) != 0 {
			t.Errorf("IPv4 header checksum wrong: %x", pkt[:ip.hdrLen])
		}
		h, err := ipv4.ParseHeader(pkt)
		if err != nil || !h.Src.Equal(src.AsSlice()) || !h.Dst.Equal(dst.AsSlice()) || h.TotalLen != len(pkt) {
			t.Errorf("x/net/ipv4 reads %v, %v", h, err)
		}
	}
	if ip.l4proto == protoICMP {
		if !icmpOK(pkt) {
			t.Errorf("ICMP checksum wrong")
		}
		return
	}
	if !refChecksumOK(pkt) {
		t.Errorf("%d checksum wrong after translation", ip.l4proto)
	}
}

// catPairs is a certificate OE client's CHILD SA: A (host address host,
// leased) with CAT, and the server B (dst), whose remote selector is the
// lease.
func catPairs(t *testing.T, host, leased, dst netip.Addr) (*pair, *pair) {
	t.Helper()
	spa, spb := testPairs(t, host, dst, kernel.ModeTunnel, kernel.AESGCM16, true)
	spa.Local = []netip.Prefix{netip.PrefixFrom(leased, leased.BitLen())}
	spa.CAT = &kernel.CAT{Host: host, Leased: leased}
	spb.Remote = spa.Local
	return mustPair(t, spa), mustPair(t, spb)
}

// TestCATRoundTrip: a packet from the host's address to the server is
// sealed with the lease as its source, the server gets it from the lease
// with every checksum right; the server's answer to the lease reaches
// the host's address, again with every checksum right. For IPv4 and
// IPv6, TCP, UDP and ICMP, of odd and even lengths.
func TestCATRoundTrip(t *testing.T) {
	for _, fam := range []struct {
		host, leased, dst netip.Addr
		protos            []uint8
	}{
		{addrA, netip.MustParseAddr("100.64.0.1"), addrB, []uint8{protoTCP, protoUDP, protoICMP}},
		{addrA6, netip.MustParseAddr("fd00:64::1"), addrB6, []uint8{protoTCP, protoUDP, protoICMPv6}},
	} {
		pa, pb := catPairs(t, fam.host, fam.leased, fam.dst)
		da, db := bareDevice(pa), bareDevice(pb)
		rx := rxESP6
		outer := func(esp []byte) []byte { return esp }
		if fam.host.Is4() {
			rx = rxESP4
			outer = func(esp []byte) []byte { return withIPv4Header(fam.host, fam.dst, esp) }
		}
		rxBack := rx
		outerBack := func(esp []byte) []byte { return esp }
		if fam.host.Is4() {
			outerBack = func(esp []byte) []byte { return withIPv4Header(fam.dst, fam.host, esp) }
		}
		for _, proto := range fam.protos {
			for _, n := range []int{0, 1, 2, 37, 1000} {
				if p := da.tbl.Load().lookupOut(fam.host, fam.dst); p != pa {
					t.Fatalf("the host's own packets to %s do not find the CAT pair", fam.dst)
				}
				buf, size := l4Packet(fam.host, fam.dst, proto, n)
				got, r := receive(db, rx, outer(sealPacket(t, da, pa, buf, size)))
				if r != dropNone {
					t.Fatalf("%s proto %d n %d: B dropped the translated packet: %v", fam.host, proto, n, r)
				}
				checksumsOK(t, got, fam.leased, fam.dst)

				buf, size = l4Packet(fam.dst, fam.leased, proto, n)
				got, r = receive(da, rxBack, outerBack(sealPacket(t, db, pb, buf, size)))
				if r != dropNone {
					t.Fatalf("%s proto %d n %d: A dropped the answer: %v", fam.host, proto, n, r)
				}
				checksumsOK(t, got, fam.dst, fam.host)
			}
		}
	}
}

// TestCATOnlyOwnTraffic: CAT translates the host's own address and
// nothing else. A packet from another source finds no pair (it is not
// ours to carry); one already from the lease is sealed as it is; an
// answer to an address other than the lease is outside the selectors.
func TestCATOnlyOwnTraffic(t *testing.T) {
	leased := netip.MustParseAddr("100.64.0.1")
	pa, pb := catPairs(t, addrA, leased, addrB)
	da, db := bareDevice(pa), bareDevice(pb)
	if p := da.tbl.Load().lookupOut(netip.MustParseAddr("192.0.2.77"), addrB); p != nil {
		t.Errorf("a packet from another source found the CAT pair")
	}
	buf, size := l4Packet(leased, addrB, protoUDP, 10)
	want := bytes.Clone(buf[bufHeadroom : bufHeadroom+size])
	got, r := receive(db, rxESP4, withIPv4Header(addrA, addrB, sealPacket(t, da, pa, buf, size)))
	if r != dropNone || !bytes.Equal(got, want) {
		t.Errorf("a packet already from the lease: %v, changed %v", r, !bytes.Equal(got, want))
	}
	// B answers A's host address, not the lease: A's selectors refuse it.
	buf, size = l4Packet(addrB, addrA, protoUDP, 10)
	pb.remote = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	if _, r := receive(da, rxESP4, withIPv4Header(addrB, addrA, sealPacket(t, db, pb, buf, size))); r != dropSelector {
		t.Errorf("an answer to the host's address through the SA: %v, want a selector drop", r)
	}
}

// TestCATInstallChecks: a CAT pair must be in tunnel mode with the lease
// as its only local selector.
func TestCATInstallChecks(t *testing.T) {
	leased := netip.MustParseAddr("100.64.0.1")
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTunnel, kernel.AESGCM16, true)
	for name, mod := range map[string]func(*kernel.SAPair){
		"transport": func(p *kernel.SAPair) {
			p.Mode = kernel.ModeTransport
			p.Local = []netip.Prefix{netip.PrefixFrom(leased, 32)}
		},
		"other-local": func(p *kernel.SAPair) {},
		"family":      func(p *kernel.SAPair) { p.CAT.Leased = netip.MustParseAddr("fd00::1") },
	} {
		sp := spa
		sp.CAT = &kernel.CAT{Host: addrA, Leased: leased}
		mod(&sp)
		if _, err := newPair(sp, time.Unix(1000, 0), 1, testSockets()); err == nil {
			t.Errorf("%s: a bad CAT pair was installed", name)
		}
	}
}

// TestChecksumReplace: the incremental update equals a full recomputation
// for random data and random replaced words.
func TestChecksumReplace(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		data := make([]byte, 2*(8+r.IntN(40)))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		cs := ipv4Checksum(data)
		off := 2 * r.IntN(len(data)/2-7)
		n := []int{4, 16}[r.IntN(2)]
		if off+n > len(data) {
			continue
		}
		old := bytes.Clone(data[off : off+n])
		for i := off; i < off+n; i++ {
			data[i] = byte(r.Uint32())
		}
		got, want := checksumReplace(cs, old, data[off:off+n]), ipv4Checksum(data)
		// One's complement has two zeros: 0x0000 and 0xffff are the same sum.
		if got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Fatalf("incremental %04x, full %04x", got, want)
		}
	}
}

// FuzzCATRewrite translates arbitrary packets both ways: it must never
// panic, and a TCP or UDP packet whose checksum was right stays right.
func FuzzCATRewrite(f *testing.F) {
	for _, proto := range []uint8{protoTCP, protoUDP, protoICMP} {
		buf, n := l4Packet(addrA, addrB, proto, 13)
		f.Add(bytes.Clone(buf[bufHeadroom:bufHeadroom+n]), true)
	}
	buf, n := l4Packet(addrA6, addrB6, protoICMPv6, 13)
	f.Add(bytes.Clone(buf[bufHeadroom:bufHeadroom+n]), false)
	f.Fuzz(func(t *testing.T, b []byte, src bool) {
		ip, ok := parseIP(b)
		if !ok {
			return
		}
		to := netip.MustParseAddr("100.64.0.1")
		if ip.v6 {
			to = netip.MustParseAddr("fd00:64::1")
		}
		seg := b[ip.hdrLen:ip.totalLen]
		hadSum := !ip.frag && ip.proto == ip.l4proto && refChecksumOK(b) &&
			((ip.l4proto == protoTCP && len(seg) >= 20) ||
				(ip.l4proto == protoUDP && len(seg) >= 8 && (ip.v6 || seg[6] != 0 || seg[7] != 0)))
		rewriteAddr(b, &ip, src, to)
		got, ok := parseIP(b)
		if !ok {
			t.Fatalf("the rewritten packet no longer parses")
		}
		if (src && got.src != to) || (!src && got.dst != to) {
			t.Fatalf("rewritten %s → %s, want %s on the %v side", got.src, got.dst, to, src)
		}
		if hadSum && !refChecksumOK(b) {
			t.Fatalf("a right checksum went wrong")
		}
	})
}

// BenchmarkCATRewrite is the translation's cost per packet: a 1400-octet
// TCP segment's source rewritten and back, IPv4 and IPv6.
func BenchmarkCATRewrite(b *testing.B) {
	for _, fam := range []struct {
		name         string
		host, leased netip.Addr
		dst          netip.Addr
	}{
		{"ipv4", addrA, netip.MustParseAddr("100.64.0.1"), addrB},
		{"ipv6", addrA6, netip.MustParseAddr("fd00:64::1"), addrB6},
	} {
		b.Run(fam.name, func(b *testing.B) {
			buf, n := l4Packet(fam.host, fam.dst, protoTCP, 1400)
			pkt := buf[bufHeadroom : bufHeadroom+n]
			ip, _ := parseIP(pkt)
			b.SetBytes(int64(n))
			for b.Loop() {
				rewriteAddr(pkt, &ip, true, fam.leased)
				rewriteAddr(pkt, &ip, true, fam.host)
			}
		})
	}
}
