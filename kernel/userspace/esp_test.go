package userspace

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/kernel"
)

// refSeal builds an ESP packet the way RFC 4303/4106/7634 describe it,
// independently of seal: used to check our wire format byte for byte.
func refSeal(alg kernel.AEAD, key []byte, spi uint32, seq uint64, esn bool, payload []byte, nh byte) []byte {
	var aead cipher.AEAD
	k, salt := key[:len(key)-4], key[len(key)-4:]
	if alg == kernel.AESGCM16 {
		blk, _ := aes.NewCipher(k)
		aead, _ = cipher.NewGCM(blk)
	} else {
		aead, _ = chacha20poly1305.New(k)
	}
	iv := binary.BigEndian.AppendUint64(nil, seq)
	hdr := binary.BigEndian.AppendUint32(nil, spi)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(seq))
	aad := hdr
	if esn {
		aad = binary.BigEndian.AppendUint32(nil, spi)
		aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
		aad = binary.BigEndian.AppendUint32(aad, uint32(seq))
	}
	pt := append([]byte(nil), payload...)
	for i := 1; (len(pt)+2)%4 != 0; i++ {
		pt = append(pt, byte(i))
	}
	pt = append(pt, byte(len(pt)-len(payload)), nh)
	nonce := append(append([]byte(nil), salt...), iv...)
	out := append(append([]byte(nil), hdr...), iv...)
	return aead.Seal(out, nonce, pt, aad)
}

func TestSealMatchesReference(t *testing.T) {
	for _, alg := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
		for _, esn := range []bool{false, true} {
			key := testKey(alg, 7)
			c, err := newESPCipher(0xdeadbeef, alg, key, esn)
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; n < 40; n++ {
				payload := bytes.Repeat([]byte{0xab}, n)
				seq := uint64(0x1_0000_0005) + uint64(n)
				if !esn {
					seq &= 0xffffffff
				}
				buf := make([]byte, bufSize)
				copy(buf[bufHeadroom:], payload)
				var sc cryptoScratch
				got := c.seal(buf, bufHeadroom, n, protoTCP, seq, &sc)
				want := refSeal(alg, key, 0xdeadbeef, seq, esn, payload, protoTCP)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s esn=%v len %d:\n got %x\nwant %x", alg, esn, n, got, want)
				}
				if (len(got)-espPrefixLen-espICVLen)%4 != 0 {
					t.Fatalf("%s len %d: ciphertext not 4-byte aligned", alg, n)
				}
			}
		}
	}
}

func TestNewESPCipherRejectsBadKeys(t *testing.T) {
	for _, tc := range []struct {
		alg kernel.AEAD
		n   int
	}{{kernel.AESGCM16, 16}, {kernel.AESGCM16, 21}, {kernel.ChaCha20Poly1305, 32}, {kernel.AEAD(9), 20}} {
		if _, err := newESPCipher(1000, tc.alg, make([]byte, tc.n), false); err == nil {
			t.Errorf("%s with %d-byte key: no error", tc.alg, tc.n)
		}
	}
}

// TestRoundTrip sends packets from side A's outbound SA to side B's inbound
// path, in both modes, both AEADs, with and without ESN, v4 and v6, and
// checks B gets back exactly A's packet.
func TestRoundTrip(t *testing.T) {
	for _, fam := range []struct{ a, b netip.Addr }{{addrA, addrB}, {addrA6, addrB6}} {
		for _, mode := range []kernel.Mode{kernel.ModeTransport, kernel.ModeTunnel} {
			for _, alg := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
				for _, esn := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/esn=%v", fam.a, mode, alg, esn)
					t.Run(name, func(t *testing.T) {
						spa, spb := testPairs(t, fam.a, fam.b, mode, alg, esn)
						pa, pb := mustPair(t, spa), mustPair(t, spb)
						da, db := bareDevice(pa), bareDevice(pb)
						k := rxESP6
						if fam.a.Is4() {
							k = rxESP4
						}
						for i := range 5 {
							payload := bytes.Repeat([]byte{byte(i)}, 10+i*333)
							buf, n := udpPacket(fam.a, fam.b, payload)
							orig := append([]byte(nil), buf[bufHeadroom:bufHeadroom+n]...)
							esp := sealPacket(t, da, pa, buf, n)
							wire := esp
							if k == rxESP4 {
								wire = withIPv4Header(fam.a, fam.b, esp)
							}
							got, r := receive(db, k, wire)
							if r != dropNone {
								t.Fatalf("packet %d dropped: %s", i, r)
							}
							if !bytes.Equal(got, orig) {
								t.Fatalf("packet %d:\n got %x\nwant %x", i, got, orig)
							}
							// The same packet again is a replay.
							if _, r := receive(db, k, wire); r != dropReplay {
								t.Fatalf("replayed packet %d: got %v, want replay", i, r)
							}
						}
						c := pb.counters()
						if c.InPackets != 5 || c.Dropped["replay"] != 5 {
							t.Fatalf("counters: %+v", c)
						}
					})
				}
			}
		}
	}
}

// TestInboundDrops checks that corrupted, truncated, unknown and
// out-of-selector packets are dropped with the right reason.
func TestInboundDrops(t *testing.T) {
	spa, spb := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	pa, pb := mustPair(t, spa), mustPair(t, spb)
	da, db := bareDevice(pa), bareDevice(pb)
	fresh := func() []byte {
		buf, n := udpPacket(addrA, addrB, []byte("hello"))
		return sealPacket(t, da, pa, buf, n)
	}
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want dropReason
	}{
		{"bad ICV", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, dropAuth},
		{"bad ciphertext", func(b []byte) []byte { b[espPrefixLen] ^= 0x80; return b }, dropAuth},
		{"bad IV", func(b []byte) []byte { b[9] ^= 1; return b }, dropAuth},
		{"truncated to header", func(b []byte) []byte { return b[:12] }, dropTruncated},
		{"truncated ICV", func(b []byte) []byte { return b[:len(b)-3] }, dropAuth},
		{"wrong SPI", func(b []byte) []byte { b[0] ^= 0x40; return b }, dropNoSA},
		{"sequence zero", func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }, dropReplay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			esp := tc.mut(fresh())
			if _, r := receive(db, rxESP4, withIPv4Header(addrA, addrB, esp)); r != tc.want {
				t.Fatalf("got %v, want %v", r, tc.want)
			}
		})
	}
	// A packet from the right SA whose selectors do not match: B's SA pair
	// for A only carries 192.0.2.1; a pair on B that expects another peer
	// address in its remote selector drops A's packet.
	spb2 := spb
	spb2.Remote = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	db2 := bareDevice(mustPair(t, spb2))
	if _, r := receive(db2, rxESP4, withIPv4Header(addrA, addrB, fresh())); r != dropSelector {
		t.Fatalf("out-of-selector packet: got %v, want selector", r)
	}
	if got := db.Stats().Dropped; got["auth"] != 4 || got["truncated"] != 1 || got["no-sa"] != 1 {
		t.Fatalf("device drop counters: %v", got)
	}
}

// TestTunnelSelector checks that tunnel mode checks the inner addresses.
func TestTunnelSelector(t *testing.T) {
	spa, spb := testPairs(t, addrA, addrB, kernel.ModeTunnel, kernel.ChaCha20Poly1305, true)
	inner := netip.MustParseAddr("198.51.100.7")
	spa.Local = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	spb.Remote = spa.Local
	pa, pb := mustPair(t, spa), mustPair(t, spb)
	da, db := bareDevice(pa), bareDevice(pb)
	buf, n := udpPacket(inner, addrB, []byte("inside"))
	if got, r := receive(db, rxESP4, withIPv4Header(addrA, addrB, sealPacket(t, da, pa, buf, n))); r != dropNone || len(got) != n {
		t.Fatalf("inner 198.51.100.7: %v", r)
	}
	// Sealing a packet whose inner source is outside B's remote selector.
	buf, n = udpPacket(netip.MustParseAddr("203.0.113.9"), addrB, []byte("spoofed"))
	if _, r := receive(db, rxESP4, withIPv4Header(addrA, addrB, sealPacket(t, da, pa, buf, n))); r != dropSelector {
		t.Fatalf("inner 203.0.113.9: got %v, want selector", r)
	}
}

// refChecksumOK verifies a TCP/UDP checksum the slow way, 16 bits at a time.
func refChecksumOK(pkt []byte) bool {
	ip, _ := parseIP(pkt)
	seg := pkt[ip.hdrLen:ip.totalLen]
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
	add(ip.src.AsSlice())
	add(ip.dst.AsSlice())
	sum += uint32(ip.l4proto) + uint32(len(seg))
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

// TestNATTransportChecksum: the peer sits behind a NAT, so it computed the
// UDP checksum over its private address while we know it by the NAT's
// public one; with ESP-in-UDP in transport mode the checksum of the
// delivered packet must be right for the addresses we deliver it with.
func TestNATTransportChecksum(t *testing.T) {
	private := netip.MustParseAddr("198.51.100.5")
	public := netip.MustParseAddr("203.0.113.5")
	for _, v6 := range []bool{false, true} {
		a, b, pub := private, addrB, public
		if v6 {
			a, b, pub = netip.MustParseAddr("2001:db8:1::5"), addrB6, netip.MustParseAddr("2001:db8:2::5")
		}
		spa, _ := testPairs(t, a, b, kernel.ModeTransport, kernel.AESGCM16, true)
		_, spb := testPairs(t, pub, b, kernel.ModeTransport, kernel.AESGCM16, true)
		spa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
		spb.Encap = spa.Encap
		da, db := bareDevice(mustPair(t, spa)), bareDevice(mustPair(t, spb))
		for _, n := range []int{0, 1, 2, 3, 101, 1000} {
			buf, size := udpPacket(a, b, bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, n)[:n])
			pkt := buf[bufHeadroom : bufHeadroom+size]
			ip, _ := parseIP(pkt)
			pkt[ip.hdrLen+6] = 0xff // any non-zero value: "has a checksum"
			fixL4Checksum(pkt[ip.hdrLen:], protoUDP, a, b)
			if !refChecksumOK(pkt) {
				t.Fatalf("test packet's own checksum is wrong")
			}
			got, r := receive(db, rxUDP4, sealPacket(t, da, da.pairs[spa.ID()], buf, size))
			if r != dropNone {
				t.Fatalf("v6=%v n=%d: dropped: %v", v6, n, r)
			}
			if gip, _ := parseIP(got); gip.src != pub || !refChecksumOK(got) {
				t.Fatalf("v6=%v n=%d: delivered from %s with a bad checksum: %x", v6, n, gip.src, got)
			}
		}
	}
}

// TestNonESPOnEncapPort: IKE on port 4500 (behind the zero non-ESP marker)
// goes to the NonESP hook without the marker; a NAT keepalive is eaten.
func TestNonESPOnEncapPort(t *testing.T) {
	d := bareDevice()
	var got []byte
	var from netip.AddrPort
	d.cfg.NonESP = func(pkt []byte, a netip.AddrPort) { got, from = append([]byte(nil), pkt...), a }
	peer := netip.MustParseAddrPort("192.0.2.1:4500")
	for _, wire := range [][]byte{{0, 0, 0, 0, 'i', 'k', 'e'}, {0xff}} {
		b := &inBatch{elems: make([]inElem, 1), msgs: make([]ipv4.Message, 1)}
		b.elems[0].buf = new(packetBuf)
		b.msgs[0].N = copy(b.elems[0].buf[bufHeadroom:], wire)
		b.msgs[0].Addr = net.UDPAddrFromAddrPort(peer)
		d.parseInbound(d.tbl.Load(), rxUDP4, b, 0)
		if b.elems[0].kind != elemDrop {
			t.Fatalf("%x: taken as ESP", wire)
		}
	}
	if string(got) != "ike" || from != peer {
		t.Fatalf("NonESP got %q from %s", got, from)
	}
	if len(d.Stats().Dropped) != 0 {
		t.Fatalf("counted as drops: %v", d.Stats().Dropped)
	}
}
