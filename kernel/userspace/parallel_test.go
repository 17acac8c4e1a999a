package userspace

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/kernel"
)

// TestParallelOpenKeepsReplayWindow sends in-order traffic through the
// inbound stages the way the data path runs them: the reader parses
// every batch in order, the workers open the batches in the worst order
// (last first, or all at once on goroutines), and the writer accepts them
// in read order. No packet may be dropped as a replay, every one must be
// delivered once, and the sequence numbers cross 2^32 (ESN) on the way.
// With the window moved by the workers, a worker that opens a late batch
// first pushes the window past the early ones.
func TestParallelOpenKeepsReplayWindow(t *testing.T) {
	for _, order := range []string{"reverse", "concurrent"} {
		t.Run(order, func(t *testing.T) {
			const batches, size = 40, socketBatch // 2560 packets, 2.5 windows
			spa, spb := testPairs(t, addrA, addrB, kernel.ModeTunnel, kernel.AESGCM16, true)
			pa, pb := mustPair(t, spa), mustPair(t, spb)
			da, db := bareDevice(pa), bareDevice(pb)
			start := uint64(1)<<32 - 1500
			pa.out.seq.Store(start)
			in := db.tbl.Load().in.get(spa.Out.SPI)
			if !in.replay.update(start) {
				t.Fatal("could not set the receive window")
			}

			bs := make([]*inBatch, batches)
			for i := range bs {
				b := &inBatch{elems: make([]inElem, size), msgs: make([]ipv4.Message, size), now: time.Unix(2000, 0)}
				for j := range size {
					buf, n := udpPacket(addrA, addrB, []byte{byte(i), byte(j)})
					esp := sealPacket(t, da, pa, buf, n)
					b.elems[j].buf = new(packetBuf)
					b.msgs[j].N = copy(b.elems[j].buf[bufHeadroom:], esp)
				}
				b.n = size
				bs[i] = b
			}
			tbl := db.tbl.Load()
			for _, b := range bs { // the reader, in order
				for j := range b.n {
					db.parseInbound(tbl, rxUDP4, b, j)
					if b.elems[j].kind != elemOpen {
						t.Fatalf("reader dropped a fresh packet: %v", db.drops.snapshot())
					}
				}
			}
			open := func(b *inBatch) {
				var sc cryptoScratch
				for j := range b.n {
					db.openElem(&b.elems[j], &sc)
				}
			}
			switch order {
			case "reverse":
				for i := len(bs) - 1; i >= 0; i-- {
					open(bs[i])
				}
			case "concurrent":
				var wg sync.WaitGroup
				for i := len(bs) - 1; i >= 0; i-- {
					wg.Go(func() { open(bs[i]) })
				}
				wg.Wait()
			}
			delivered := 0
			for i, b := range bs { // the writer, in order
				for j := range b.n {
					e := &b.elems[j]
					if e.kind == elemOpened {
						db.acceptOpened(e, b.now)
					}
					if e.kind != elemDeliver {
						t.Fatalf("batch %d packet %d (seq %#x) not delivered; drops %v", i, j, e.seq, db.drops.snapshot())
					}
					if want := start + 1 + uint64(i*size+j); e.seq != want {
						t.Fatalf("batch %d packet %d: seq %#x, want %#x", i, j, e.seq, want)
					}
					delivered++
				}
			}
			if s := db.drops.snapshot(); s["replay"] != 0 || delivered != batches*size {
				t.Errorf("%d delivered of %d, drops %v", delivered, batches*size, s)
			}
			// A copy of a recent one, sent again, is a replay now.
			if _, r := receive(db, rxUDP4, sealedAgain(t, da, pa, start+batches*size-10)); r != dropReplay {
				t.Errorf("a replayed packet: %v, want replay", r)
			}
		})
	}
}

// sealedAgain seals a packet with sequence number seq.
func sealedAgain(t *testing.T, d *Device, p *pair, seq uint64) []byte {
	t.Helper()
	old := p.out.seq.Load()
	p.out.seq.Store(seq - 1)
	defer p.out.seq.Store(old)
	buf, n := udpPacket(addrA, addrB, []byte("again"))
	return sealPacket(t, d, p, buf, n)
}
