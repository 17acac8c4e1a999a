package xfrm

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// read is the one reader of the XFRM multicast groups. netlink's
// XfrmMonitor decodes only EXPIRE (it silently drops ACQUIRE) and reports
// POLEXPIRE, which arrives on the EXPIRE group, as an error, so we decode
// them ourselves.
func (d *Dataplane) read() {
	defer close(d.readerOK)
	for {
		msgs, from, err := d.sub.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				// The kernel dropped events; acquires come back once
				// their larval state lapses (xfrm_acq_expires).
				d.log.Warn("xfrm event socket overrun: some acquires or expires were lost")
				continue
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			d.mu.Lock()
			closed := d.closed
			d.mu.Unlock()
			if !closed {
				d.log.Error("xfrm event reader stopped", "err", err)
			}
			return
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			d.handle(m.Header.Type, m.Data)
		}
	}
}

func (d *Dataplane) handle(typ uint16, b []byte) {
	var err error
	switch typ {
	case nl.XFRM_MSG_ACQUIRE:
		err = d.onAcquire(b)
	case nl.XFRM_MSG_EXPIRE:
		err = d.onExpire(b)
	case nl.XFRM_MSG_POLEXPIRE:
		err = d.onPolExpire(b)
	}
	if err != nil {
		d.log.Warn("bad xfrm event", "type", typ, "err", err)
	}
}

func (d *Dataplane) onAcquire(b []byte) error {
	m, err := parseAcquire(b)
	if err != nil {
		return err
	}
	class, ours := classOf(d.opts.PriorityBase, m.Policy.Priority)
	if !ours || m.Policy.Dir != dirOut {
		return nil // another daemon's policy
	}
	f := m.Flow
	a := kernel.Acquire{
		Flow: kernel.Flow{Src: f.Src.Addr(), Dst: f.Dst.Addr(), Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort},
		Time: d.now(),
	}
	d.mu.Lock()
	if class == classShunt {
		d.mu.Unlock()
		d.log.Debug("acquire under a hold shunt ignored", "flow", f)
		return nil
	}
	a.Trap, a.Group = d.trapFor(m.Policy.Sel.Dst, a.Flow.Dst)
	d.mu.Unlock()
	d.log.Debug("acquire", "flow", f, "trap", a.Trap, "group", a.Group, "seq", m.Seq)
	select {
	case d.acquires <- a:
	default:
		d.log.Warn("acquire dropped: nobody reads the acquire channel", "flow", f)
	}
	return nil
}

// trapFor finds the trap behind a policy's destination prefix, or the most
// specific trap covering dst (an acquire from a flow's own policy whose SAs
// expired).
func (d *Dataplane) trapFor(p netip.Prefix, dst netip.Addr) (netip.Prefix, kernel.Group) {
	if t, ok := d.traps[p]; ok {
		return t.Prefix, t.Group
	}
	best, group := netip.Prefix{}, kernel.GroupPrivateOrClear
	for q, t := range d.traps {
		if q.Contains(dst) && q.Bits() > best.Bits() {
			best, group = q, t.Group
		}
	}
	if !best.IsValid() {
		best = p
	}
	return best, group
}

func (d *Dataplane) onExpire(b []byte) error {
	m, err := parseExpire(b)
	if err != nil {
		return err
	}
	s := m.State
	if s.SPI == 0 || !d.ourReqid(s.Reqid) {
		return nil // a trap's larval state lapsing, or not ours
	}
	e := kernel.Expire{SPI: s.SPI, Time: d.now()}
	k := spiKey{s.Dst, s.SPI}
	d.mu.Lock()
	if peer, ok := d.spis[k]; ok {
		if !m.Hard {
			d.mu.Unlock()
			return nil
		}
		delete(d.spis, k)
		e.Kind = kernel.ExpireSPI
		e.SA = kernel.SAPairID{Peer: peer, InSPI: s.SPI}
	} else if id, ok := d.bySPI[k]; ok {
		e.SA = id
		e.Kind = kernel.ExpireSoft
		if m.Hard {
			e.Kind = kernel.ExpireHard
		}
	} else {
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	d.log.Debug("expire", "kind", e.Kind, "peer", e.SA.Peer, "spi", fmt.Sprintf("%#08x", s.SPI))
	d.send(e)
	return nil
}

func (d *Dataplane) onPolExpire(b []byte) error {
	m, err := parsePolExpire(b)
	if err != nil {
		return err
	}
	if !m.Hard {
		return nil
	}
	k := polKey{m.Policy.Sel, m.Policy.Dir}
	d.mu.Lock()
	f, ok := d.shuntKeys[k]
	if ok {
		delete(d.shuntKeys, k)
		delete(d.shunts, f)
		delete(d.owned, k)
	}
	d.mu.Unlock()
	if !ok {
		return nil
	}
	d.log.Debug("shunt expired", "flow", m.Policy.Sel)
	d.send(kernel.Expire{Kind: kernel.ExpireShunt, Flow: f, Time: d.now()})
	return nil
}

func (d *Dataplane) send(e kernel.Expire) {
	select {
	case d.expires <- e:
	default:
		d.log.Warn("expire dropped: nobody reads the expire channel", "kind", e.Kind, "peer", e.SA.Peer)
	}
}
