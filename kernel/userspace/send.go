package userspace

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/oemesh/oemesh/internal/udpgso"
	"github.com/oemesh/oemesh/kernel"
)

// The outbound path, as in wireguard-go: one goroutine reads batches from
// the TUN device and decides per packet (SA, shunt, trap); the batch then
// goes both to a pool of workers that seal in parallel and, in read order,
// to one sender that waits for each batch's seal to finish and sends it.
// Packets keep their order and all cores seal.

type elemKind uint8

const (
	elemDrop    elemKind = iota // dropped (already counted) or consumed
	elemESP                     // outbound: to seal and send
	elemClear                   // outbound: send as it is (pass)
	elemOpen                    // inbound: to open
	elemOpened                  // inbound: authenticated, to record in the replay window in order
	elemDeliver                 // inbound: recorded, to write to the TUN device
)

// outElem is one packet of an outbound batch.
type outElem struct {
	buf        *packetBuf
	kind       elemKind
	sa         *outSA
	seq        uint64
	nh         byte
	off, n     int // the payload to seal: buf[off:off+n]
	start, end int // the packet to send: buf[start:end]
	inner      int // inner packet bytes, for the counters
	dst        netip.Addr
}

// outBatch is what one TUN read returned. mu is held from the read until
// the seal worker finishes, so the sender waits on it.
type outBatch struct {
	mu    sync.Mutex
	elems []outElem
	bufs  [][]byte
	sizes []int
	n     int
	now   time.Time
}

func (d *Device) newOutBatch(size int) *outBatch {
	b := &outBatch{elems: make([]outElem, size), bufs: make([][]byte, size), sizes: make([]int, size)}
	for i := range b.elems {
		b.elems[i].buf = d.pools.get()
		b.bufs[i] = b.elems[i].buf[:]
	}
	return b
}

func (d *Device) tunReadLoop() {
	defer d.wg.Done()
	size := max(d.tun.BatchSize(), 1)
	free := d.outFree
	d.trimFreeEvery(free)
	get := func() *outBatch {
		select {
		case b := <-free:
			return b
		default:
			return d.newOutBatch(size)
		}
	}
	d.putOut = func(b *outBatch) {
		select {
		case free <- b:
		default:
			for i := range b.elems {
				d.pools.put(b.elems[i].buf)
			}
		}
	}
	var sc cryptoScratch
	for {
		b := get()
		n, err := d.tun.Read(b.bufs, b.sizes, bufHeadroom)
		if err != nil && n == 0 {
			d.putOut(b)
			if errors.Is(err, os.ErrClosed) || d.closed() != nil {
				return
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				d.drop(nil, dropTooBig, 1)
				continue
			}
			d.log.Warn("read from TUN device", "err", err)
			select {
			case <-d.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		b.n, b.now = n, d.clock.Now()
		t := d.tbl.Load()
		for i := range n {
			d.classify(t, b, i)
		}
		d.dispatchOut(b, &sc)
	}
}

// inlineCryptoMax is the largest batch sealed or opened by the goroutine
// that read it rather than by the workers. Handing a batch to a worker
// wakes a goroutine (often a thread) and then the sender, which costs
// several microseconds; a seal or open of a full-sized packet costs under
// half a microsecond. The TCP ACKs of a bulk transfer, the packets of an
// interactive flow and a lone ping arrive in batches of one or a few, and
// go through without the hand-off; the TSO bursts of a bulk transfer
// still spread over the workers.
const inlineCryptoMax = 4

// dispatchOut hands a classified batch on: sealed here when it is small,
// by the workers otherwise; either way to the sender in read order.
func (d *Device) dispatchOut(b *outBatch, sc *cryptoScratch) {
	if b.n <= d.inlineMax() {
		for i := range b.n {
			if e := &b.elems[i]; e.kind == elemESP {
				sealElem(e, sc)
			}
		}
		d.sendQ <- b
		return
	}
	b.mu.Lock()
	d.encQ <- b
	d.sendQ <- b
}

// classify decides what happens to packet i of b.
func (d *Device) classify(t *tables, b *outBatch, i int) {
	e := &b.elems[i]
	e.kind, e.sa = elemDrop, nil
	ip, ok := parseIP(e.buf[bufHeadroom : bufHeadroom+b.sizes[i]])
	if !ok {
		d.drop(nil, dropMalformed, 1)
		return
	}
	if isNeighbourDiscovery(&ip) {
		// ND must stay link-local and in clear (hop limit 255, RFC 4861
		// §7.1), as IKE daemons exempt it from IPsec policies.
		prepareClear(e, &ip)
		return
	}
	if len(t.excl) > 0 && !ip.frag && t.excluded(&ip) {
		// A port exclusion is above every SA: the flow stays clear even
		// when a tunnel to its peer is up.
		prepareClear(e, &ip)
		return
	}
	if p := t.lookupOut(ip.src, ip.dst); p != nil {
		d.prepareESP(e, p, &ip)
		return
	}
	f := ip.flow()
	if s := t.lookupShunt(f); s != nil {
		switch s.s.Kind {
		case kernel.ShuntPass:
			prepareClear(e, &ip)
		case kernel.ShuntDrop:
			d.drop(nil, dropShunt, 1)
		default:
			d.holdPacket(t, b, i, &ip, netip.Prefix{}, 0, false)
		}
		return
	}
	pfx, g, ok := t.traps.LookupPrefixLPM(netip.PrefixFrom(ip.dst, ip.dst.BitLen()))
	if !ok {
		d.drop(nil, dropNoTrap, 1)
		return
	}
	switch g {
	case kernel.GroupBlock:
		d.drop(nil, dropBlock, 1)
	case kernel.GroupClear, kernel.GroupClearOrPrivate:
		prepareClear(e, &ip) // routed here in a race with SetTrap
	default:
		d.holdPacket(t, b, i, &ip, pfx, g, true)
	}
}

// prepareESP sets e up to be sealed with p's outbound SA.
func (d *Device) prepareESP(e *outElem, p *pair, ip *ipPacket) {
	if p.mode == kernel.ModeTransport {
		// The kernel encrypts before it fragments; a fragment reaching us
		// (UDP larger than the TUN MTU) cannot be carried in transport
		// mode without reassembly, which we do not do.
		if ip.frag {
			d.drop(p, dropFragment, 1)
			return
		}
		e.off, e.n, e.nh = bufHeadroom+ip.hdrLen, ip.totalLen-ip.hdrLen, ip.proto
	} else {
		if c := p.cat; c != nil && ip.src == c.host {
			rewriteAddr(e.buf[bufHeadroom:bufHeadroom+ip.totalLen], ip, true, c.leased)
		}
		e.off, e.n, e.nh = bufHeadroom, ip.totalLen, protoIPIP
		if ip.v6 {
			e.nh = protoIPv6
		}
	}
	seq, ok := p.out.nextSeq()
	if !ok {
		p.dead.Store(true)
		d.wakeExpiry()
		d.drop(p, dropSeqOverflow, 1)
		return
	}
	e.kind, e.sa, e.seq, e.inner = elemESP, &p.out, seq, ip.totalLen
}

// isNeighbourDiscovery reports ICMPv6 router/neighbour solicitations and
// advertisements and redirects (types 133–137).
func isNeighbourDiscovery(ip *ipPacket) bool {
	return ip.v6 && ip.l4proto == protoICMPv6 && ip.sport >= 133 && ip.sport <= 137
}

func prepareClear(e *outElem, ip *ipPacket) {
	e.kind, e.start, e.end, e.dst = elemClear, bufHeadroom, bufHeadroom+ip.totalLen, ip.dst
}

// holdPacket moves packet i of b into the hold queue of its flow, raising
// an acquire for a new flow caught by a trap.
func (d *Device) holdPacket(t *tables, b *outBatch, i int, ip *ipPacket, trap netip.Prefix, g kernel.Group, acquire bool) {
	e := &b.elems[i]
	f := ip.flow()
	buf := e.buf
	switch d.hold.add(f, buf, ip.totalLen, b.now) {
	case holdFull:
		d.drop(nil, dropHoldFull, 1)
		return
	case heldNew:
		if acquire {
			select {
			case d.acquires <- kernel.Acquire{Flow: f, Trap: trap, Group: g, Time: b.now}:
			default:
				if d.hold.forget(f, buf) {
					d.drop(nil, dropAcquireBacklog, 1)
					return // buf is still ours
				}
			}
		}
	}
	e.buf = d.pools.get()
	b.bufs[i] = e.buf[:]
	// An SA or shunt published since t was loaded may have taken the
	// queues already; release this one too so it does not wait for the
	// hold timeout.
	if t2 := d.tbl.Load(); t2 != t && (t2.lookupOut(f.Src, f.Dst) != nil || t2.lookupShunt(f) != nil) {
		d.resolveHeld(d.hold.take(func(g kernel.Flow) bool { return g == f }))
	}
}

func (d *Device) sealWorker() {
	defer d.workers.Done()
	var sc cryptoScratch
	for b := range d.encQ {
		for i := range b.n {
			if e := &b.elems[i]; e.kind == elemESP {
				sealElem(e, &sc)
			}
		}
		b.mu.Unlock()
	}
}

func sealElem(e *outElem, sc *cryptoScratch) {
	out := e.sa.seal(e.buf[:], e.off, e.n, e.nh, e.seq, sc)
	e.start = e.off - espPrefixLen
	e.end = e.start + len(out)
}

func (d *Device) sendLoop() {
	defer d.workers.Done()
	s := newSender(d)
	for b := range d.sendQ {
		b.mu.Lock()
		s.flush(b.elems[:b.n], b.now)
		b.mu.Unlock()
		d.putOut(b)
	}
}

// sender batches sealed packets per socket (sendmmsg). ESP-in-UDP is
// first collected in order with its SA (udpPkts, udpSAs), then sent in
// trains of one SA each (gso.go).
type sender struct {
	d          *Device
	esp4, esp6 []ipv4.Message
	udp4, udp6 []ipv4.Message
	udpPkts    [][]byte
	udpSAs     []*outSA
	oob        []byte // the control messages of GSO runs, per flush
}

func newSender(d *Device) *sender { return &sender{d: d} }

func appendMsg(ms []ipv4.Message, pkt []byte, o *outSA) []ipv4.Message {
	if len(ms) < cap(ms) {
		ms = ms[:len(ms)+1]
	} else {
		ms = append(ms, ipv4.Message{Buffers: make([][]byte, 1)})
	}
	m := &ms[len(ms)-1]
	if len(m.Buffers) != 1 {
		m.Buffers = make([][]byte, 1)
	}
	m.Buffers[0], m.Addr, m.OOB = pkt, o.addr, o.oob
	return ms
}

// flush sends the batch's packets, sealed ones per socket in one call each.
func (s *sender) flush(elems []outElem, now time.Time) {
	d := s.d
	s.esp4, s.esp6, s.udp4, s.udp6 = s.esp4[:0], s.esp6[:0], s.udp4[:0], s.udp6[:0]
	s.udpPkts, s.udpSAs = s.udpPkts[:0], s.udpSAs[:0]
	for i := range elems {
		e := &elems[i]
		switch e.kind {
		case elemESP:
			o := e.sa
			pkt := e.buf[e.start:e.end]
			switch {
			case o.udp:
				s.udpPkts = append(s.udpPkts, pkt)
				s.udpSAs = append(s.udpSAs, o)
			case o.dst.Is4():
				s.esp4 = appendMsg(s.esp4, pkt, o)
			default:
				s.esp6 = appendMsg(s.esp6, pkt, o)
			}
			o.ctr.add(1, uint64(e.inner), now)
			if p := o.pair; p.byteLimitCrossed() {
				if p.life.HardBytes != 0 && o.ctr.bytes.Load() >= p.life.HardBytes {
					p.dead.Store(true)
				}
				d.wakeExpiry()
			}
		case elemClear:
			s.sendClear(e.buf[e.start:e.end], e.dst)
		}
	}
	s.flushUDP()
	if len(s.esp4) > 0 {
		d.writeBatch(d.socks.esp4, s.esp4)
	}
	if len(s.esp6) > 0 {
		d.writeBatch(d.socks.esp6, s.esp6)
	}
	if len(s.udp4) > 0 {
		s.writeUDP(d.socks.udp4, s.udp4)
	}
	if len(s.udp6) > 0 {
		s.writeUDP(d.socks.udp6, s.udp6)
	}
}

// flushUDP sends the collected ESP-in-UDP in trains, each the packets of
// one SA that follow each other: through the mux (EncapSendBatch, else
// EncapSend per packet), or as messages for our own sockets, a GSO run
// per message when the sockets take it.
func (s *sender) flushUDP() {
	d := s.d
	s.oob = s.oob[:0]
	gso := d.socks.gso.Load()
	for i := 0; i < len(s.udpPkts); {
		o := s.udpSAs[i]
		j := i + 1
		for j < len(s.udpPkts) && s.udpSAs[j] == o {
			j++
		}
		train := s.udpPkts[i:j]
		i = j
		if d.cfg.EncapSend != nil {
			s.sendEncap(train, o)
			continue
		}
		for len(train) > 0 {
			n := 1
			if gso {
				n = udpgso.Run(train)
			}
			s.appendUDP(train[:n], o)
			train = train[n:]
		}
	}
}

// sendEncap sends one SA's train through the socket the device does not
// own (Config.EncapSend, EncapSendBatch).
func (s *sender) sendEncap(train [][]byte, o *outSA) {
	d := s.d
	local, dst := netip.AddrPortFrom(o.src, o.encapSrc), netip.AddrPortFrom(o.dst, o.encapDst)
	if d.cfg.EncapSendBatch != nil {
		n, err := d.cfg.EncapSendBatch(train, local, dst)
		if err != nil {
			d.drop(o.pair, dropSendError, uint64(len(train)-min(n, len(train))))
			if d.closed() == nil {
				d.log.Debug("send ESP-in-UDP", "to", dst, "err", err)
			}
		}
		return
	}
	for _, pkt := range train {
		if err := d.cfg.EncapSend(pkt, local, dst); err != nil {
			d.drop(o.pair, dropSendError, 1)
			if d.closed() == nil {
				d.log.Debug("send ESP-in-UDP", "to", dst, "err", err)
			}
		}
	}
}

// appendUDP adds one message for our own UDP socket: a single packet, or
// a GSO run whose iovecs are the packets, with UDP_SEGMENT.
func (s *sender) appendUDP(run [][]byte, o *outSA) {
	ms := &s.udp4
	if !o.dst.Is4() {
		ms = &s.udp6
	}
	if len(run) == 1 {
		*ms = appendMsg(*ms, run[0], o)
		return
	}
	start := len(s.oob)
	s.oob = append(s.oob, o.oob...)
	s.oob = udpgso.AppendSegmentCmsg(s.oob, len(run[0]))
	if len(*ms) < cap(*ms) {
		*ms = (*ms)[:len(*ms)+1]
	} else {
		*ms = append(*ms, ipv4.Message{})
	}
	m := &(*ms)[len(*ms)-1]
	// The runs of a flush share s.oob; an append that moves it leaves the
	// earlier runs' slices on the old array, which stays as it was.
	m.Buffers, m.Addr, m.OOB = run, o.addr, s.oob[start:len(s.oob):len(s.oob)]
}

// writeUDP sends messages on our own UDP socket. A GSO run the kernel
// refuses with EIO (the route's device cannot checksum it) turns GSO off
// and goes again one packet per message; other errors count the message's
// packets as dropped, as writeBatch does.
func (s *sender) writeUDP(c batchWriter, ms []ipv4.Message) {
	d := s.d
	for len(ms) > 0 {
		n, err := c.WriteBatch(ms[:min(len(ms), d.cfg.Techniques.Batch)], 0)
		if err == nil || n >= len(ms) {
			if n <= 0 {
				return
			}
			ms = ms[n:]
			continue
		}
		bad := &ms[n]
		if len(bad.Buffers) > 1 && errors.Is(err, syscall.EIO) {
			if d.socks.gso.Swap(false) {
				d.log.Info("UDP GSO refused by the kernel; sending ESP-in-UDP one datagram per message", "err", err)
			}
			for _, pkt := range bad.Buffers {
				one := []ipv4.Message{{Buffers: [][]byte{pkt}, Addr: bad.Addr, OOB: bad.OOB[:len(bad.OOB)-unix.CmsgSpace(2)]}}
				d.writeBatch(c, one)
			}
		} else {
			d.drop(nil, dropSendError, uint64(max(len(bad.Buffers), 1)))
			if d.closed() == nil {
				d.log.Debug("send ESP-in-UDP", "to", bad.Addr, "err", err)
			}
		}
		ms = ms[n+1:]
	}
}

// batchWriter is ipv4.PacketConn or ipv6.PacketConn (their Message types
// are the same).
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func (d *Device) writeBatch(c batchWriter, ms []ipv4.Message) {
	for len(ms) > 0 {
		n, err := c.WriteBatch(ms[:min(len(ms), d.cfg.Techniques.Batch)], 0)
		if err != nil {
			// The first message not sent failed; count it and go on.
			if n >= len(ms) {
				return
			}
			d.drop(nil, dropSendError, 1)
			if d.closed() == nil {
				d.log.Debug("send ESP", "to", ms[n].Addr, "err", err)
			}
			n++
		}
		ms = ms[n:]
	}
}

// sendClear sends a whole IP packet through the raw socket whose mark
// bypasses the trap: a pass shunt.
func (s *sender) sendClear(pkt []byte, dst netip.Addr) {
	c := s.d.socks.clear4
	if dst.Is6() {
		c = s.d.socks.clear6
	}
	if c == nil {
		s.d.drop(nil, dropSendError, 1)
		return
	}
	if _, err := c.WriteTo(pkt, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		s.d.drop(nil, dropSendError, 1)
		s.d.log.Debug("send clear", "to", dst, "err", err)
	}
}

// resolveHeld sends or drops packets taken from the hold queues, by what
// the current tables say for each: SA, pass or drop shunt. Packets with no
// decision yet go back to their queue. It runs on control-plane goroutines.
func (d *Device) resolveHeld(rel []released) {
	if len(rel) == 0 {
		return
	}
	t := d.tbl.Load()
	now := d.clock.Now()
	var sc cryptoScratch
	var elems []outElem
	for _, r := range rel {
		for _, hp := range r.pkts {
			e := outElem{buf: hp.buf}
			ip, ok := parseIP(hp.buf[bufHeadroom : bufHeadroom+hp.n])
			if !ok { // parsed once already; cannot happen
				d.drop(nil, dropMalformed, 1)
			} else if p := t.lookupOut(ip.src, ip.dst); p != nil {
				d.prepareESP(&e, p, &ip)
				if e.kind == elemESP {
					sealElem(&e, &sc)
				}
			} else if s := t.lookupShunt(r.flow); s != nil && s.s.Kind == kernel.ShuntPass {
				prepareClear(&e, &ip)
			} else if s != nil && s.s.Kind == kernel.ShuntDrop {
				d.drop(nil, dropShunt, 1)
			} else if d.hold.add(r.flow, hp.buf, hp.n, now) != holdFull {
				continue // still waiting; the queue owns the buffer again
			} else {
				d.drop(nil, dropHoldFull, 1)
			}
			elems = append(elems, e)
		}
	}
	newSender(d).flush(elems, now)
	for i := range elems {
		d.pools.put(elems[i].buf)
	}
}

func (d *Device) wakeExpiry() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
