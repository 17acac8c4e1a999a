package userspace

import (
	"net/netip"
	"sync"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// heldPacket is one packet waiting for an SA, in its pooled buffer at
// buf[bufHeadroom:bufHeadroom+n].
type heldPacket struct {
	buf *packetBuf
	n   int
}

// heldFlow is the bounded queue of one flow.
type heldFlow struct {
	pkts  []heldPacket
	bytes int
	since time.Time
}

// holdTable keeps packets of flows that wait for an SA (or a shunt), per
// flow and bounded by count and bytes per flow and by bytes overall, so a
// flood towards a dead peer cannot eat the host's memory. It is only used
// on the slow path: packets with no SA.
//
// With Config.GuardNegotiating it also counts the held flows per
// destination and notes each destination whose count goes to or from
// zero, for the guard's host blackholes (guardheld.go): a map update under
// the lock it already holds, once per flow, never a system call.
type holdTable struct {
	mu         sync.Mutex
	flows      map[kernel.Flow]*heldFlow
	total      int
	maxPackets int
	maxBytes   int
	maxTotal   int

	// dsts counts held flows per destination; changed collects the
	// destinations that started or stopped being held since heldChanges
	// last ran, and notify (capacity 1) says it has something. All nil
	// without GuardNegotiating.
	dsts    map[netip.Addr]int
	changed map[netip.Addr]struct{}
	notify  chan struct{}
}

func newHoldTable(cfg *Config) *holdTable {
	h := &holdTable{
		flows:      make(map[kernel.Flow]*heldFlow),
		maxPackets: cfg.HoldPackets, maxBytes: cfg.HoldBytes, maxTotal: cfg.HoldTotalBytes,
	}
	if cfg.GuardNegotiating {
		h.dsts = make(map[netip.Addr]int)
		h.changed = make(map[netip.Addr]struct{})
		h.notify = make(chan struct{}, 1)
	}
	return h
}

// flowStarted and flowEnded keep dsts; callers hold h.mu.
func (h *holdTable) flowStarted(f kernel.Flow) {
	if h.dsts == nil {
		return
	}
	h.dsts[f.Dst]++
	if h.dsts[f.Dst] == 1 {
		h.markChanged(f.Dst)
	}
}

func (h *holdTable) flowEnded(f kernel.Flow) {
	if h.dsts == nil {
		return
	}
	if n := h.dsts[f.Dst] - 1; n > 0 {
		h.dsts[f.Dst] = n
		return
	}
	delete(h.dsts, f.Dst)
	h.markChanged(f.Dst)
}

func (h *holdTable) markChanged(a netip.Addr) {
	h.changed[a] = struct{}{}
	select {
	case h.notify <- struct{}{}:
	default: // already signalled
	}
}

// heldChanges returns the destinations that started or stopped being held
// since the last call, each with whether it is held now. What it reports
// is the state at the call, not the transitions: a destination released
// and held again in between is simply held.
func (h *holdTable) heldChanges() map[netip.Addr]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.changed) == 0 {
		return nil
	}
	out := make(map[netip.Addr]bool, len(h.changed))
	for a := range h.changed {
		out[a] = h.dsts[a] > 0
	}
	clear(h.changed)
	return out
}

// holdResult says what add did with a packet.
type holdResult uint8

const (
	heldNew  holdResult = iota + 1 // first packet of the flow: raise an acquire
	heldMore                       // queued behind earlier packets
	holdFull                       // the queue is full: the caller drops the packet
)

// add queues a packet for f. The table owns buf unless the result is
// holdFull.
func (h *holdTable) add(f kernel.Flow, buf *packetBuf, n int, now time.Time) holdResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total+n > h.maxTotal {
		return holdFull
	}
	q, ok := h.flows[f]
	if !ok {
		q = &heldFlow{since: now}
		h.flows[f] = q
		h.flowStarted(f)
	} else if len(q.pkts) >= h.maxPackets || q.bytes+n > h.maxBytes {
		return holdFull
	}
	q.pkts = append(q.pkts, heldPacket{buf: buf, n: n})
	q.bytes += n
	h.total += n
	if !ok {
		return heldNew
	}
	return heldMore
}

// forget removes a flow's entry if it holds nothing, so that the next
// packet raises an acquire again (used when the acquire could not be sent).
// It reports whether buf was still queued (and is the caller's again).
func (h *holdTable) forget(f kernel.Flow, buf *packetBuf) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	q, ok := h.flows[f]
	if !ok {
		return false
	}
	found := false
	for i, p := range q.pkts {
		if p.buf == buf {
			q.pkts = append(q.pkts[:i], q.pkts[i+1:]...)
			q.bytes -= p.n
			h.total -= p.n
			found = true
			break
		}
	}
	if len(q.pkts) == 0 {
		delete(h.flows, f)
		h.flowEnded(f)
	}
	return found
}

// released is the held packets of one flow, in arrival order.
type released struct {
	flow kernel.Flow
	pkts []heldPacket
}

// take removes and returns the queues of the flows match selects.
func (h *holdTable) take(match func(kernel.Flow) bool) []released {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []released
	for f, q := range h.flows {
		if match(f) {
			out = append(out, released{flow: f, pkts: q.pkts})
			h.total -= q.bytes
			delete(h.flows, f)
			h.flowEnded(f)
		}
	}
	return out
}

// expired removes and returns the queues older than timeout.
func (h *holdTable) expired(now time.Time, timeout time.Duration) []released {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []released
	for f, q := range h.flows {
		if now.Sub(q.since) >= timeout {
			out = append(out, released{flow: f, pkts: q.pkts})
			h.total -= q.bytes
			delete(h.flows, f)
			h.flowEnded(f)
		}
	}
	return out
}

func (h *holdTable) size() (flows, packets int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range h.flows {
		packets += len(q.pkts)
	}
	return len(h.flows), packets
}

// drain frees every held buffer (Close).
func (h *holdTable) drain(p *pools) {
	for _, r := range h.take(func(kernel.Flow) bool { return true }) {
		for _, pk := range r.pkts {
			p.put(pk.buf)
		}
	}
}
