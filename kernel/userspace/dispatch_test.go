package userspace

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestDispatchSmallBatchesInline checks that a batch of up to
// inlineCryptoMax packets is sealed (outbound) or opened (inbound) by the
// goroutine that read it and goes straight to the sender or writer,
// without waking a worker, and that a larger one still goes to the
// workers first, locked until they are done, and to the sender or writer
// in the same order.
func TestDispatchSmallBatchesInline(t *testing.T) {
	spa, spb := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, true)
	pa, pb := mustPair(t, spa), mustPair(t, spb)
	da, db := bareDevice(pa), bareDevice(pb)
	for _, d := range []*Device{da, db} {
		d.encQ, d.sendQ = make(chan *outBatch, 1), make(chan *outBatch, 1)
		d.decQ, d.recvQ = make(chan *inBatch, 1), make(chan *inBatch, 1)
	}
	for _, n := range []int{1, inlineCryptoMax, inlineCryptoMax + 1, socketBatch} {
		// A lone packet (an ACK, a ping) must never wait for a worker.
		inline := n == 1 || n <= inlineCryptoMax
		// Outbound: n packets, prepared as classify does.
		ob := &outBatch{elems: make([]outElem, n), n: n, now: time.Unix(1000, 0)}
		for i := range n {
			buf, size := udpPacket(addrA, addrB, []byte{byte(i), 1, 2, 3})
			ip, _ := parseIP(buf[bufHeadroom : bufHeadroom+size])
			ob.elems[i].buf = buf
			da.prepareESP(&ob.elems[i], pa, &ip)
		}
		var sc cryptoScratch
		da.dispatchOut(ob, &sc)
		if got := <-da.sendQ; got != ob {
			t.Fatalf("%d packets: the sender got another batch", n)
		}
		select {
		case <-da.encQ:
			if inline {
				t.Fatalf("%d packets: handed to a seal worker, want sealed inline", n)
			}
			if ob.mu.TryLock() {
				t.Fatalf("%d packets: handed to the workers unlocked: the sender would not wait", n)
			}
			for i := range n {
				sealElem(&ob.elems[i], &sc) // the worker's part
			}
			ob.mu.Unlock()
		default:
			if !inline {
				t.Fatalf("%d packets: sealed inline, want the workers", n)
			}
		}
		// Inbound at the peer: every packet must open and be delivered.
		ib := &inBatch{elems: make([]inElem, n), msgs: make([]ipv4.Message, n), n: n, now: time.Unix(1000, 0)}
		for i := range n {
			e := &ob.elems[i]
			ib.elems[i].buf = new(packetBuf)
			ib.msgs[i].N = copy(ib.elems[i].buf[bufHeadroom:], e.buf[e.start:e.end])
			db.parseInbound(db.tbl.Load(), rxUDP4, ib, i)
		}
		db.dispatchIn(ib, &sc)
		if got := <-db.recvQ; got != ib {
			t.Fatalf("%d packets: the writer got another batch", n)
		}
		select {
		case <-db.decQ:
			if inline {
				t.Fatalf("%d packets: handed to an open worker, want opened inline", n)
			}
			for i := range n {
				db.openElem(&ib.elems[i], &sc)
			}
			ib.mu.Unlock()
		default:
			if !inline {
				t.Fatalf("%d packets: opened inline, want the workers", n)
			}
		}
		for i := range n {
			e := &ib.elems[i]
			if e.kind == elemOpened {
				db.acceptOpened(e, ib.now)
			}
			if e.kind != elemDeliver {
				t.Fatalf("%d packets: packet %d not delivered; drops %v", n, i, db.drops.snapshot())
			}
			if p := e.buf[e.start:e.end]; p[ipv4HeaderLen+8] != byte(i) {
				t.Fatalf("%d packets: packet %d carries payload %d", n, i, p[ipv4HeaderLen+8])
			}
		}
	}
}

// TestSocketBuffersPastSysctl checks that the ESP sockets' queues are
// sized past net.core.rmem_max and wmem_max (SO_RCVBUFFORCE), which the
// data plane's CAP_NET_ADMIN allows: a burst of GSO runs must not
// overflow a default-sized queue.
func TestSocketBuffersPastSysctl(t *testing.T) {
	netnstest.Need(t) // CAP_NET_ADMIN for SO_RCVBUFFORCE
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rcv, snd int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		setBigBuffers(int(fd))
		if rcv, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); gerr == nil {
			snd, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		}
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	// The kernel reports twice what was set (its bookkeeping overhead).
	if rcv < 2*socketBufferSize || snd < 2*socketBufferSize {
		t.Errorf("SO_RCVBUF %d, SO_SNDBUF %d: want at least %d each", rcv, snd, 2*socketBufferSize)
	}
}
