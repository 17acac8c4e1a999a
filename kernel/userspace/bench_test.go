package userspace

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

var benchAlgs = []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305}

// BenchmarkSeal measures the outbound per-packet work: parse the IP
// header, find the SA, take a sequence number and seal in place. The
// packet is rewritten before each round (a copy of n bytes, as the TUN
// read would leave it); allocs/op must be 0.
func BenchmarkSeal(b *testing.B) {
	for _, alg := range benchAlgs {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%d", alg, size), func(b *testing.B) {
				spa, _ := testPairs(b, addrA, addrB, kernel.ModeTransport, alg, true)
				pa := mustPair(b, spa)
				d := bareDevice(pa)
				src, n := udpPacket(addrA, addrB, make([]byte, size-28))
				buf := new(packetBuf)
				t := d.tbl.Load()
				var sc cryptoScratch
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[bufHeadroom:bufHeadroom+n], src[bufHeadroom:bufHeadroom+n])
					ip, _ := parseIP(buf[bufHeadroom : bufHeadroom+n])
					p := t.lookupOut(ip.src, ip.dst)
					e := outElem{buf: buf}
					d.prepareESP(&e, p, &ip)
					sealElem(&e, &sc)
				}
			})
		}
	}
}

// BenchmarkOpen measures the inbound per-packet work: find the SA by SPI,
// infer and pre-check the sequence number, authenticate and decrypt in
// place, update the replay window, check the selectors and rebuild the
// inner header. The same sealed packet is restored before each round (a
// copy) and given a fresh sequence number for the window; allocs/op must
// be 0.
func BenchmarkOpen(b *testing.B) {
	for _, alg := range benchAlgs {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%d", alg, size), func(b *testing.B) {
				spa, spb := testPairs(b, addrA, addrB, kernel.ModeTransport, alg, false)
				pa, pb := mustPair(b, spa), mustPair(b, spb)
				da, db := bareDevice(pa), bareDevice(pb)
				pkt, n := udpPacket(addrA, addrB, make([]byte, size-28))
				esp := sealPacket(b, da, pa, pkt, n)
				buf := new(packetBuf)
				t := db.tbl.Load()
				var sc cryptoScratch
				seq := uint64(0)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[bufHeadroom:], esp)
					data := buf[bufHeadroom : bufHeadroom+len(esp)]
					spi, _ := espSPI(data)
					sa := t.in.get(spi)
					seq++
					if !sa.replay.check(seq) {
						b.Fatal("replay window refused a fresh number")
					}
					r, _, _, _ := openInto(buf[:], bufHeadroom, len(esp), sa, seq, 0, 64, &sc)
					if r != dropNone || !sa.replay.update(seq) {
						b.Fatalf("open: %v", r)
					}
				}
			})
		}
	}
}

// BenchmarkSealParallel seals on every core at once, as the seal workers
// do with many flows (one SA each, so the sequence counters do not
// contend); ns/op falls with the number of cores.
func BenchmarkSealParallel(b *testing.B) {
	spa, _ := testPairs(b, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, true)
	d := bareDevice(mustPair(b, spa))
	src, n := udpPacket(addrA, addrB, make([]byte, 1400-28))
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		p := mustPair(b, spa) // this goroutine's flow
		buf := new(packetBuf)
		var sc cryptoScratch
		for pb.Next() {
			copy(buf[bufHeadroom:bufHeadroom+n], src[bufHeadroom:bufHeadroom+n])
			ip, _ := parseIP(buf[bufHeadroom : bufHeadroom+n])
			e := outElem{buf: buf}
			d.prepareESP(&e, p, &ip)
			sealElem(&e, &sc)
		}
	})
}

// BenchmarkInjectEncap measures the hand-over of inbound ESP-in-UDP from
// a socket the device does not own (DeliverEncap) to the receive loop's
// batch read, per packet: queue the buffer, lend it to a batch element,
// give it back when the batch is done. No copy, no allocation.
func BenchmarkInjectEncap(b *testing.B) {
	d := bareDevice()
	d.socks = &sockets{inject: newInjectReader(1024)}
	const batch = 64
	in := testInBatch(batch)
	in.free = make(chan *inBatch, 1)
	buf := make([]byte, 128+9216) // as internal/udpmux lays out its buffers
	buf[128+3] = 1
	remote := netip.MustParseAddrPort("192.0.2.2:4500")
	delivered := []kernel.EncapPacket{{Buf: buf, Off: 128, Len: 1400, Remote: remote}}
	release := func([]byte) {}
	b.SetBytes(int64(delivered[0].Len))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.DeliverEncap(delivered, release)
		if n++; n == batch {
			if got, err := d.socks.inject.readBatch(in); err != nil || got != batch {
				b.Fatalf("read %d, %v", got, err)
			}
			d.putIn(in)
			in = <-in.free
			n = 0
		}
	}
}
