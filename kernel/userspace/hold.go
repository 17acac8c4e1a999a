package userspace

import (
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
type holdTable struct {
	mu         sync.Mutex
	flows      map[kernel.Flow]*heldFlow
	total      int
	maxPackets int
	maxBytes   int
	maxTotal   int
}

func newHoldTable(cfg *Config) *holdTable {
	return &holdTable{
		flows:      make(map[kernel.Flow]*heldFlow),
		maxPackets: cfg.HoldPackets, maxBytes: cfg.HoldBytes, maxTotal: cfg.HoldTotalBytes,
	}
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
