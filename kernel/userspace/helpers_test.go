package userspace

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/oemesh/oemesh/kernel"
)

var (
	addrA  = netip.MustParseAddr("192.0.2.1")
	addrB  = netip.MustParseAddr("192.0.2.2")
	addrA6 = netip.MustParseAddr("2001:db8::1")
	addrB6 = netip.MustParseAddr("2001:db8::2")
)

// testSockets stands in for opened sockets where only their presence is
// checked (SA validation).
func testSockets() *sockets {
	return &sockets{esp4: &ipv4.PacketConn{}, esp6: &ipv6.PacketConn{}, udp4: &ipv4.PacketConn{}, udp6: &ipv6.PacketConn{}}
}

func testKey(alg kernel.AEAD, seed byte) []byte {
	n := 36
	if alg == kernel.AESGCM16 {
		n = 20
	}
	k := bytes.Repeat([]byte{seed}, n)
	for i := range k {
		k[i] += byte(i)
	}
	return k
}

// testPairs returns the two sides of one CHILD SA: a (the initiator, local
// la) and b (the responder, local lb), with the same keys crossed.
func testPairs(t testing.TB, la, lb netip.Addr, mode kernel.Mode, alg kernel.AEAD, esn bool) (kernel.SAPair, kernel.SAPair) {
	t.Helper()
	kAB, kBA := testKey(alg, 0x10), testKey(alg, 0x80)
	ab := kernel.SA{SPI: 0x1000a, Src: la, Dst: lb, AEAD: alg, Key: kAB, ESN: esn}
	ba := kernel.SA{SPI: 0x2000b, Src: lb, Dst: la, AEAD: alg, Key: kBA, ESN: esn}
	pa := kernel.SAPair{In: ba, Out: ab, Mode: mode,
		Local: []netip.Prefix{netip.PrefixFrom(la, la.BitLen())}, Remote: []netip.Prefix{netip.PrefixFrom(lb, lb.BitLen())}}
	pb := kernel.SAPair{In: ab, Out: ba, Mode: mode,
		Local: []netip.Prefix{netip.PrefixFrom(lb, lb.BitLen())}, Remote: []netip.Prefix{netip.PrefixFrom(la, la.BitLen())}}
	return pa, pb
}

func mustPair(t testing.TB, sp kernel.SAPair) *pair {
	t.Helper()
	p, err := newPair(sp, time.Unix(1000, 0), 1, testSockets())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// udpPacket builds an IPv4 or IPv6 UDP packet with payload in a buffer
// laid out as the TUN reader leaves it (packet at bufHeadroom).
func udpPacket(src, dst netip.Addr, payload []byte) (*packetBuf, int) {
	buf := new(packetBuf)
	pkt := buf[bufHeadroom:]
	hl := ipv4HeaderLen
	if src.Is6() {
		hl = ipv6HeaderLen
	}
	u := pkt[hl:]
	ulen := 8 + len(payload)
	u[0], u[1], u[2], u[3] = 0x30, 0x39, 0x1f, 0x90 // 12345 → 8080
	u[4], u[5] = byte(ulen>>8), byte(ulen)
	copy(u[8:], payload)
	if src.Is4() {
		writeIPv4Header(pkt, src, dst, protoUDP, 0, 64, hl+ulen)
	} else {
		writeIPv6Header(pkt, src, dst, protoUDP, 0, 64, ulen)
	}
	return buf, hl + ulen
}

// sealPacket runs the outbound path for one packet: prepare and seal. It
// returns the ESP packet as it goes on the wire.
func sealPacket(t testing.TB, d *Device, p *pair, buf *packetBuf, n int) []byte {
	t.Helper()
	ip, ok := parseIP(buf[bufHeadroom : bufHeadroom+n])
	if !ok {
		t.Fatal("test packet does not parse")
	}
	e := outElem{buf: buf}
	d.prepareESP(&e, p, &ip)
	if e.kind != elemESP {
		t.Fatalf("prepareESP dropped the packet: %v", d.drops.snapshot())
	}
	var sc cryptoScratch
	sealElem(&e, &sc)
	return append([]byte(nil), buf[e.start:e.end]...)
}

// bareDevice is a Device with tables but no TUN, sockets or goroutines,
// for the packet paths.
func bareDevice(pairs ...*pair) *Device {
	cfg, _ := (&Config{}).withDefaults()
	d := &Device{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, pools: newPools(),
		traps: map[netip.Prefix]kernel.Group{}, pairs: map[kernel.SAPairID]*pair{}, shunts: map[kernel.Flow]*shunt{},
		spis: map[uint32]spiReservation{}, done: make(chan struct{}), wake: make(chan struct{}, 1),
		expires: make(chan kernel.Expire, 16), acquires: make(chan kernel.Acquire, 16)}
	d.hold = newHoldTable(&cfg)
	for _, p := range pairs {
		d.pairs[p.id] = p
	}
	d.publish()
	return d
}

// receive runs the inbound path for one wire packet (raw IPv4 socket form
// when v4 is true: with the outer header) and returns the packet that
// would be written to the TUN device, or the drop reason.
func receive(d *Device, k rxKind, wire []byte) ([]byte, dropReason) {
	b := &inBatch{elems: make([]inElem, 1), msgs: make([]ipv4.Message, 1)}
	b.elems[0].buf = new(packetBuf)
	n := copy(b.elems[0].buf[bufHeadroom:], wire)
	b.msgs[0].N = n
	before := d.drops.snapshot()
	d.parseInbound(d.tbl.Load(), k, b, 0)
	e := &b.elems[0]
	if e.kind == elemOpen {
		var sc cryptoScratch
		d.openElem(e, &sc)
	}
	if e.kind == elemOpened {
		d.acceptOpened(e, time.Unix(2000, 0))
	}
	if e.kind == elemDeliver {
		return e.buf[e.start:e.end], dropNone
	}
	after := d.drops.snapshot()
	for r := dropReason(1); int(r) < numDropReasons; r++ {
		if after[r.String()] != before[r.String()] {
			return nil, r
		}
	}
	return nil, dropNone
}

// withIPv4Header puts an outer IPv4 header (protocol ESP) in front of esp,
// as the raw IPv4 socket delivers it.
func withIPv4Header(src, dst netip.Addr, esp []byte) []byte {
	b := make([]byte, ipv4HeaderLen+len(esp))
	writeIPv4Header(b, src, dst, protoESP, 0, 64, len(b))
	copy(b[ipv4HeaderLen:], esp)
	return b
}

// tableRoutes lists the routes of a routing table, both families, as
// destination → route type (unix.RTN_*).
func tableRoutes(t *testing.T, nl *netlink.Handle, table int) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, fam := range families {
		rs, err := nl.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatalf("routes of table %d: %v", table, err)
		}
		for _, r := range rs {
			m[r.Dst.String()] = r.Type
		}
	}
	return m
}

// countRules counts the ip rules (both families) at priority that look up
// table, and checks each is "not fwmark mark".
func countRules(t *testing.T, nl *netlink.Handle, priority, table int, mark uint32) (n int) {
	t.Helper()
	for _, fam := range families {
		rs, err := nl.RuleList(fam)
		if err != nil {
			t.Fatalf("ip rules: %v", err)
		}
		for _, r := range rs {
			if r.Priority == priority && r.Table == table {
				if !r.Invert || r.Mark != mark {
					t.Errorf("rule %+v (priority %d, table %d) is not 'not fwmark %#x'", r, priority, table, mark)
				}
				n++
			}
		}
	}
	return n
}
