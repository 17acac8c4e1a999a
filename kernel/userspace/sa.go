package userspace

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// pair is one installed CHILD SA: an inbound and an outbound SA with the
// traffic selectors they carry. It is immutable after install except for
// its atomics, so the data path reads it without locks.
type pair struct {
	id     kernel.SAPairID
	local  []netip.Prefix
	remote []netip.Prefix
	cat    *cat // client address translation, nil without (cat.go)
	life   kernel.Lifetime
	added  time.Time
	order  uint64 // install order: the newest pair for a selector carries it
	in     inSA
	out    outSA
	drops  atomic.Pointer[dropCounters] // nil until the first drop
	dead   atomic.Bool                  // hard limit reached: no more packets either way
	// deferOut: a responder's rekeyed pair, not used outbound while an
	// older pair for its selectors lives, until its inbound SA has opened a
	// packet (kernel.SAPair.DeferOutbound).
	deferOut atomic.Bool
	soft     atomic.Bool // soft expire sent
	hard     atomic.Bool // hard expire sent
	// l4sum is what transport-mode ESP-in-UDP from this peer has shown of
	// its TCP and UDP checksums (checksum.go): unknown, intact for our
	// addresses, or to be fixed. It is the inbound half's, kept here
	// beside the flags, in their word's padding (TestPairSize).
	l4sum atomic.Uint32
	// mode sits with the flags, not after id, so that it shares their
	// word (TestPairSize). ESP-in-UDP is out.udp, not a copy of the
	// kernel.Encap that would keep the caller's alive.
	mode kernel.Mode
}

// outSA is the outbound half: it seals and knows where to send.
type outSA struct {
	espCipher
	pair     *pair
	src, dst netip.Addr
	seq      atomic.Uint64 // last sequence number used
	ctr      trafficCounters
	addr     net.Addr // *net.IPAddr for raw ESP, *net.UDPAddr for ESP-in-UDP
	oob      []byte   // IP_PKTINFO with src
	udp      bool
	// encapSrc and encapDst are the UDP ports of ESP-in-UDP.
	encapSrc, encapDst uint16
}

// inSA is the inbound half: it opens and guards against replays. Its
// outer addresses are the outbound half's, reversed.
type inSA struct {
	espCipher
	pair   *pair
	replay replayWindow
	ctr    trafficCounters
}

// nextSeq reserves the next outbound sequence number. ok is false when it
// would wrap (2^32 without ESN, RFC 4303 §3.3.3): the SA must be rekeyed.
func (o *outSA) nextSeq() (uint64, bool) {
	s := o.seq.Add(1)
	if !o.esn && s > 0xffffffff {
		return 0, false
	}
	return s, s != 0
}

// matches reports whether a packet from src to dst belongs to the pair's
// selectors as seen outbound (src local, dst remote). With CAT, the
// host's own address counts as local: prepareESP translates it.
func (p *pair) matches(src, dst netip.Addr) bool {
	return (contains(p.local, src) || (p.cat != nil && src == p.cat.host)) && contains(p.remote, dst)
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// drop counts a drop on the pair.
func (p *pair) drop(r dropReason, n uint64) {
	c := p.drops.Load()
	if c == nil {
		p.drops.CompareAndSwap(nil, new(dropCounters))
		c = p.drops.Load()
	}
	c.add(r, n)
}

// dropped returns the pair's drops by reason.
func (p *pair) dropped() map[string]uint64 {
	if c := p.drops.Load(); c != nil {
		return c.snapshot()
	}
	return map[string]uint64{}
}

// newPair validates an SAPair and builds its ciphers.
func newPair(sp kernel.SAPair, now time.Time, order uint64, socks *sockets) (*pair, error) {
	id := sp.ID()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("userspace: SA pair peer %s in %#x out %#x: %s", id.Peer, sp.In.SPI, sp.Out.SPI, fmt.Sprintf(format, a...))
	}
	for _, sa := range []kernel.SA{sp.In, sp.Out} {
		if !sa.Src.IsValid() || !sa.Dst.IsValid() || sa.Src.Is4() != sa.Dst.Is4() {
			return nil, bad("SPI %#x: outer addresses %s → %s are not one family", sa.SPI, sa.Src, sa.Dst)
		}
		if sa.SPI < 256 {
			return nil, bad("SPI %#x is reserved (RFC 4303 §2.1)", sa.SPI)
		}
	}
	if sp.In.Src != sp.Out.Dst || sp.In.Dst != sp.Out.Src {
		return nil, bad("inbound SA %s → %s is not the outbound SA %s → %s reversed", sp.In.Src, sp.In.Dst, sp.Out.Src, sp.Out.Dst)
	}
	if len(sp.Local) == 0 || len(sp.Remote) == 0 {
		return nil, bad("no traffic selectors")
	}
	if !sp.Mode.Valid() {
		return nil, bad("mode is %v, want transport or tunnel", sp.Mode)
	}
	if sp.Out.Dst.Is6() && socks.esp6 == nil {
		return nil, bad("IPv6 is not available on this host")
	}
	if sp.CAT != nil {
		if err := sp.CAT.Check(sp.Mode, sp.Local); err != nil {
			return nil, bad("%v", err)
		}
	}
	if sp.Encap != nil && socks.inject == nil && (socks.udp4 == nil || (sp.Out.Dst.Is6() && socks.udp6 == nil)) {
		return nil, bad("ESP-in-UDP requested but the data plane has no UDP encapsulation socket")
	}
	p := &pair{
		id: id, mode: sp.Mode, cat: newCAT(sp.CAT), life: sp.Lifetime, added: now, order: order,
		local:  append([]netip.Prefix(nil), sp.Local...),
		remote: append([]netip.Prefix(nil), sp.Remote...),
	}
	if err := p.in.init(sp.In.SPI, sp.In.AEAD, sp.In.Key, sp.In.ESN); err != nil {
		return nil, bad("inbound: %v", err)
	}
	if err := p.out.init(sp.Out.SPI, sp.Out.AEAD, sp.Out.Key, sp.Out.ESN); err != nil {
		return nil, bad("outbound: %v", err)
	}
	p.in.pair = p
	p.in.replay.init(sp.In.Replay)
	p.out.pair, p.out.src, p.out.dst, p.out.oob = p, sp.Out.Src, sp.Out.Dst, socks.sourceOOB(sp.Out.Src)
	if sp.Encap != nil {
		p.out.udp = true
		p.out.encapSrc, p.out.encapDst = sp.Encap.SrcPort, sp.Encap.DstPort
		p.out.addr = &net.UDPAddr{IP: sp.Out.Dst.AsSlice(), Port: int(sp.Encap.DstPort)}
	} else {
		p.out.addr = &net.IPAddr{IP: sp.Out.Dst.AsSlice()}
	}
	return p, nil
}

// counters returns the pair's counters in the interface's form.
func (p *pair) counters() kernel.Counters {
	c := kernel.Counters{
		InBytes: p.in.ctr.bytes.Load(), InPackets: p.in.ctr.packets.Load(),
		OutBytes: p.out.ctr.bytes.Load(), OutPackets: p.out.ctr.packets.Load(),
		Dropped: p.dropped(),
	}
	in, out := p.in.ctr.last(), p.out.ctr.last()
	c.LastUse = in
	if out.After(in) {
		c.LastUse = out
	}
	return c
}

// checkLimits returns the expire due now, if any: hard before soft, each
// once. Bytes are counted per SA, as XFRM does.
func (p *pair) checkLimits(now time.Time) (kind kernel.ExpireKind, spi uint32) {
	l := p.life
	inB, outB := p.in.ctr.bytes.Load(), p.out.ctr.bytes.Load()
	age := now.Sub(p.added)
	over := func(limit uint64) (bool, uint32) {
		if limit == 0 {
			return false, 0
		}
		if outB >= limit {
			return true, p.out.spi
		}
		if inB >= limit {
			return true, p.in.spi
		}
		return false, 0
	}
	if hit, s := over(l.HardBytes); hit || (l.HardAdd > 0 && age >= l.HardAdd) {
		if !hit {
			s = p.out.spi
		}
		if p.hard.CompareAndSwap(false, true) {
			p.dead.Store(true)
			return kernel.ExpireHard, s
		}
		return 0, 0
	}
	if hit, s := over(l.SoftBytes); hit || (l.SoftAdd > 0 && age >= l.SoftAdd) {
		if !hit {
			s = p.out.spi
		}
		if p.soft.CompareAndSwap(false, true) {
			return kernel.ExpireSoft, s
		}
	}
	return 0, 0
}

// byteLimitNear reports whether the SA's bytes crossed a byte limit, so the
// data path can wake the expiry loop instead of waiting for its tick.
func (p *pair) byteLimitCrossed() bool {
	l := p.life
	if l.SoftBytes == 0 && l.HardBytes == 0 {
		return false
	}
	b := max(p.in.ctr.bytes.Load(), p.out.ctr.bytes.Load())
	return (l.SoftBytes != 0 && b >= l.SoftBytes && !p.soft.Load()) ||
		(l.HardBytes != 0 && b >= l.HardBytes && !p.hard.Load())
}
