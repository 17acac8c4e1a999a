package userspace

import (
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/kernel"
)

// The inbound path mirrors the outbound one: a reader per socket takes a
// batch (recvmmsg), finds each packet's SA and pre-checks the replay
// window; workers open in parallel; one writer waits for each batch in
// order, records the authenticated packets in their SA's replay window
// and writes them to the TUN device in one call.
//
// The window is moved by the writer, not by the workers, as wireguard-go
// validates its counters in its sequential receiver: workers finish
// batches in any order, and a worker far ahead would otherwise push the
// window past the packets of a batch still being opened, dropping
// in-order traffic as replays. In read order the window only sees what
// the wire sent (TestParallelOpenKeepsReplayWindow).

// rxKind is which socket a batch came from.
type rxKind uint8

const (
	rxESP4 rxKind = iota // raw IPv4: the IPv4 header comes with the packet
	rxESP6               // raw IPv6: the kernel strips the IPv6 header
	rxUDP4               // ESP-in-UDP (RFC 3948)
	rxUDP6
)

// inElem is one packet of an inbound batch.
type inElem struct {
	buf        *packetBuf
	lent       lent // set while buf views a buffer lent by DeliverEncap
	kind       elemKind
	sa         *inSA
	seq        uint64
	espOff     int // ESP packet at buf[espOff:espOff+espLen]
	espLen     int
	tos, ttl   uint8
	start, end int // the opened packet to write to the TUN device
	// post is, for an authenticated packet, why it is dropped after its
	// sequence number is recorded (dummy, malformed, selector), or none.
	post dropReason
}

type inBatch struct {
	mu    sync.Mutex
	elems []inElem
	msgs  []ipv4.Message
	n     int
	now   time.Time
	free  chan *inBatch // the reader's pool this batch returns to
}

// batchReader fills an inbound batch: a socket reads into the batch's
// own buffers (socketReader), the inject queue lends the buffers the
// packets arrived in (injectReader).
type batchReader interface {
	readBatch(b *inBatch) (int, error)
}

// socketReader is ipv4.PacketConn or ipv6.PacketConn: recvmmsg into the
// batch's messages.
type socketReader struct {
	conn interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
	}
}

func (s socketReader) readBatch(b *inBatch) (int, error) { return s.conn.ReadBatch(b.msgs, 0) }

func (d *Device) startReceivers() {
	rx := func(k rxKind, c batchReader) {
		d.wg.Add(1)
		go d.receiveLoop(k, c)
	}
	rx(rxESP4, socketReader{d.socks.esp4})
	if d.socks.esp6 != nil {
		rx(rxESP6, socketReader{d.socks.esp6})
	}
	if d.socks.udp4 != nil {
		if d.socks.gro4 {
			rx(rxUDP4, newGROReader(d.socks.udp4, d.cfg.Techniques.Batch))
		} else {
			rx(rxUDP4, socketReader{d.socks.udp4})
		}
	}
	if d.socks.udp6 != nil {
		if d.socks.gro6 {
			rx(rxUDP6, newGROReader(d.socks.udp6, d.cfg.Techniques.Batch))
		} else {
			rx(rxUDP6, socketReader{d.socks.udp6})
		}
	}
	if d.socks.inject != nil {
		rx(rxUDP4, d.socks.inject) // both families: the kind only says "UDP"
	}
}

func (d *Device) newInBatch(free chan *inBatch) *inBatch {
	size := d.cfg.Techniques.Batch
	b := &inBatch{elems: make([]inElem, size), msgs: make([]ipv4.Message, size), free: free}
	for i := range b.elems {
		b.elems[i].buf = d.pools.get()
		b.msgs[i].Buffers = [][]byte{b.elems[i].buf[bufHeadroom:]}
	}
	return b
}

// putIn gives back what the batch borrowed and returns it to its
// reader's pool, or its buffers to the device's pool when that is full.
func (d *Device) putIn(b *inBatch) {
	for i := range b.elems {
		b.elems[i].giveBack()
	}
	select {
	case b.free <- b:
	default:
		for i := range b.elems {
			d.pools.put(b.elems[i].buf)
		}
	}
}

func (d *Device) receiveLoop(k rxKind, c batchReader) {
	defer d.wg.Done()
	free := make(chan *inBatch, 4*cap(d.decQ)+2)
	var sc cryptoScratch
	for {
		var b *inBatch
		select {
		case b = <-free:
		default:
			b = d.newInBatch(free)
		}
		n, err := c.readBatch(b)
		if err != nil {
			d.putIn(b)
			if errors.Is(err, net.ErrClosed) || d.closed() != nil {
				return
			}
			d.log.Warn("read ESP", "socket", k, "err", err)
			select { // do not spin on a persistent error
			case <-d.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		b.n, b.now = n, d.clock.Now()
		t := d.tbl.Load()
		for i := range n {
			d.parseInbound(t, k, b, i)
		}
		d.dispatchIn(b, &sc)
	}
}

// dispatchIn hands a parsed batch on: opened here when it is small
// (inlineCryptoMax), by the workers otherwise; either way to the writer
// in read order, which alone moves the replay windows.
func (d *Device) dispatchIn(b *inBatch, sc *cryptoScratch) {
	if b.n <= d.inlineMax() {
		for i := range b.n {
			if e := &b.elems[i]; e.kind == elemOpen {
				d.openElem(e, sc)
			}
		}
		d.recvQ <- b
		return
	}
	b.mu.Lock()
	d.decQ <- b
	d.recvQ <- b
}

// parseInbound finds the ESP packet i of b and its SA, and pre-checks the
// replay window so that replays cost no decryption.
func (d *Device) parseInbound(t *tables, k rxKind, b *inBatch, i int) {
	e := &b.elems[i]
	e.kind, e.sa = elemDrop, nil
	m := &b.msgs[i]
	data := e.buf[bufHeadroom : bufHeadroom+m.N]
	off := bufHeadroom
	e.tos, e.ttl = 0, 64
	switch k {
	case rxESP4:
		esp, hdr, ok := splitIPv4ESP(data)
		if !ok {
			d.drop(nil, dropMalformed, 1)
			return
		}
		data, off = esp, off+hdr
		e.tos, e.ttl = e.buf[bufHeadroom+1], e.buf[bufHeadroom+8]
	case rxUDP4, rxUDP6:
		switch {
		case len(data) == 1 && data[0] == 0xff:
			return // NAT-keepalive (RFC 3948 §2.3)
		case len(data) >= 4 && data[0]|data[1]|data[2]|data[3] == 0:
			if d.cfg.NonESP != nil {
				if a, ok := m.Addr.(*net.UDPAddr); ok {
					d.cfg.NonESP(data[4:], a.AddrPort())
				}
			}
			return
		}
	}
	spi, ok := espSPI(data)
	if !ok {
		d.drop(nil, dropTruncated, 1)
		return
	}
	sa := t.in.get(spi)
	if sa == nil {
		d.drop(nil, dropNoSA, 1)
		return
	}
	if sa.pair.dead.Load() {
		d.drop(sa.pair, dropSAExpired, 1)
		return
	}
	seq, ok := sa.replay.inferSeq(espSeqLo(data), sa.esn)
	if !ok || !sa.replay.check(seq) {
		d.drop(sa.pair, dropReplay, 1)
		return
	}
	e.kind, e.sa, e.seq, e.espOff, e.espLen = elemOpen, sa, seq, off, len(data)
}

// splitIPv4ESP returns the ESP packet inside an IPv4 packet from the raw
// socket and the IPv4 header's length.
func splitIPv4ESP(b []byte) (esp []byte, hdr int, ok bool) {
	ip, ok := parseIP(b)
	if !ok || ip.v6 || ip.proto != protoESP || ip.frag {
		return nil, 0, false
	}
	return b[ip.hdrLen:ip.totalLen], ip.hdrLen, true
}

func (d *Device) openWorker() {
	defer d.workers.Done()
	var sc cryptoScratch
	for b := range d.decQ {
		for i := range b.n {
			if e := &b.elems[i]; e.kind == elemOpen {
				d.openElem(e, &sc)
			}
		}
		b.mu.Unlock()
	}
}

// openElem authenticates and decrypts one packet, checks the traffic
// selectors and builds the packet for the TUN device; acceptOpened then
// records it, in order.
func (d *Device) openElem(e *inElem, sc *cryptoScratch) {
	e.kind = elemDrop
	r, authed, start, end := openInto(e.buf[:], e.espOff, e.espLen, e.sa, e.seq, e.tos, e.ttl, sc)
	if !authed {
		d.drop(e.sa.pair, r, 1)
		return
	}
	e.kind, e.post, e.start, e.end = elemOpened, r, start, end
}

// acceptOpened records an authenticated packet's sequence number in its
// SA's replay window (where a copy opened in the same batches may have
// been first) and counts it. The writer calls it in read order.
func (d *Device) acceptOpened(e *inElem, now time.Time) {
	e.kind = elemDrop
	sa, p := e.sa, e.sa.pair
	if !sa.replay.update(e.seq) {
		d.drop(p, dropReplay, 1)
		return
	}
	if e.post != dropNone {
		d.drop(p, e.post, 1)
		return
	}
	e.kind = elemDeliver
	sa.ctr.add(1, uint64(e.end-e.start), now)
	if p.deferOut.Load() {
		p.deferOut.Store(false) // the peer has the new pair: send on it too
	}
	if p.byteLimitCrossed() {
		if p.life.HardBytes != 0 && sa.ctr.bytes.Load() >= p.life.HardBytes {
			p.dead.Store(true)
		}
		d.wakeExpiry()
	}
}

// openInto opens the ESP packet at buf[off:off+n] in place and turns it into
// the inner IP packet at buf[start:end]: in tunnel mode the decrypted
// payload itself, in transport mode the payload behind a rebuilt IP header
// (written over the ESP header, which is why buffers have headroom).
// authed says the packet authenticated: its sequence number must then be
// recorded in the replay window (acceptOpened), even when r drops it.
func openInto(buf []byte, off, n int, sa *inSA, seq uint64, tos, ttl uint8, sc *cryptoScratch) (r dropReason, authed bool, start, end int) {
	r, start, end = openAuthed(buf, off, n, sa, seq, tos, ttl, sc)
	switch r {
	case dropNone, dropDummy, dropMalformed, dropSelector:
		return r, true, start, end
	}
	return r, false, 0, 0
}

func openAuthed(buf []byte, off, n int, sa *inSA, seq uint64, tos, ttl uint8, sc *cryptoScratch) (r dropReason, start, end int) {
	p := sa.pair
	payload, nh, r := sa.open(buf[off:off+n], seq, sc)
	if r != dropNone {
		return r, 0, 0
	}
	if nh == protoNone {
		return dropDummy, 0, 0
	}
	payOff := off + espPrefixLen
	if p.mode == kernel.ModeTunnel {
		ip, ok := parseIP(payload)
		if !ok || (nh == protoIPIP) == ip.v6 || (nh != protoIPIP && nh != protoIPv6) {
			return dropMalformed, 0, 0
		}
		if !contains(p.remote, ip.src) || !contains(p.local, ip.dst) {
			return dropSelector, 0, 0
		}
		if c := p.cat; c != nil && ip.dst == c.leased {
			rewriteAddr(payload, &ip, false, c.host)
		}
		return dropNone, payOff, payOff + ip.totalLen
	}
	src, dst := p.out.dst, p.out.src // transport: the peer to us
	if !contains(p.remote, src) || !contains(p.local, dst) {
		return dropSelector, 0, 0
	}
	end = payOff + len(payload)
	if p.out.udp {
		sa.fixChecksum(payload, nh, src, dst)
	}
	if src.Is4() {
		start = payOff - ipv4HeaderLen
		writeIPv4Header(buf[start:payOff], src, dst, nh, tos, ttl, end-start)
	} else {
		start = payOff - ipv6HeaderLen
		writeIPv6Header(buf[start:payOff], src, dst, nh, tos, ttl, len(payload))
	}
	return dropNone, start, end
}

func (d *Device) tunWriteLoop() {
	defer d.workers.Done()
	var out [][]byte
	var heads groHeads
	for b := range d.recvQ {
		b.mu.Lock()
		out = out[:0]
		for i := range b.n {
			e := &b.elems[i]
			if e.kind == elemOpened {
				d.acceptOpened(e, b.now)
			}
			if e.kind == elemDeliver {
				out = append(out, e.buf[e.start-tunOffset:e.end])
			}
		}
		if len(out) > 0 {
			if d.tunInf.offloads && len(out) > 1 && !d.cfg.Techniques.SmallGROHeads {
				heads.promote(out)
			}
			if _, err := d.tun.Write(out, tunOffset); err != nil && d.closed() == nil {
				d.drop(nil, dropTUNWrite, 1)
				d.log.Debug("write to TUN device", "err", err)
			}
			heads.release()
		}
		b.mu.Unlock()
		d.putIn(b)
	}
}
