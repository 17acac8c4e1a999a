package main

import (
	"context"
	"sync"

	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/kernel"
)

// trafficTotals are the bytes and packets through every SA pair since the
// daemon started, per direction: what oemesh_bytes_total and
// oemesh_packets_total export.
type trafficTotals struct {
	InBytes, OutBytes, InPackets, OutPackets uint64
}

func (t *trafficTotals) add(c trafficTotals) {
	t.InBytes += c.InBytes
	t.OutBytes += c.OutBytes
	t.InPackets += c.InPackets
	t.OutPackets += c.OutPackets
}

// meteredDataplane sits between the orchestrator and the data plane and
// keeps the traffic totals monotonic. A data plane counts per SA pair, and
// a pair's counters go with it when it is deleted (oemesh down, a rekey,
// an idle delete): a sum over the pairs alive now goes down, which
// Prometheus reads as a counter reset. So the meter remembers each live
// pair's last counters, and when a pair is deleted it reads the pair's
// final counters first and adds them to what the deleted pairs carried.
//
// Every path that deletes a pair (OE's, the conns', a peer reconnecting)
// goes through DeleteSA, which is why the meter wraps the data plane
// rather than hooking each of them.
type meteredDataplane struct {
	kernel.Dataplane
	clock clock.Clock
	// installed, when set, is told how long each InstallSA took.
	installed func(seconds float64, err error)

	mu sync.Mutex
	// live holds the highest counters seen of each installed pair: the
	// four totals, not a kernel.Counters (64 octets with its LastUse and
	// Dropped), as the map holds one per peer.
	live map[kernel.SAPairID]trafficTotals
	// retired sums the final counters of the deleted pairs.
	retired trafficTotals
}

func newMeteredDataplane(dp kernel.Dataplane, clk clock.Clock, installed func(float64, error)) *meteredDataplane {
	return &meteredDataplane{Dataplane: dp, clock: clk, installed: installed, live: map[kernel.SAPairID]trafficTotals{}}
}

// InstallSA implements kernel.Dataplane: the pair is metered from now on.
func (m *meteredDataplane) InstallSA(ctx context.Context, p kernel.SAPair) error {
	start := m.clock.Now()
	err := m.Dataplane.InstallSA(ctx, p)
	if m.installed != nil {
		m.installed(m.clock.Now().Sub(start).Seconds(), err)
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[p.ID()]; !ok { // an update of a pair keeps its counters
		m.live[p.ID()] = trafficTotals{}
	}
	return nil
}

// DeleteSA implements kernel.Dataplane: the pair's final counters join
// the totals of the deleted pairs.
func (m *meteredDataplane) DeleteSA(ctx context.Context, id kernel.SAPairID, opts kernel.DeleteOptions) error {
	final, cerr := m.Dataplane.SACounters(ctx, id)
	err := m.Dataplane.DeleteSA(ctx, id, opts)
	if err != nil && !pairGone(ctx, m.Dataplane, id) {
		return err // still installed: still metered
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.live[id]
	if !ok {
		return err // installed before the meter, or deleted twice
	}
	if cerr == nil {
		last = maxCounters(last, final)
	}
	m.retired.add(last)
	delete(m.live, id)
	return err
}

// pairGone reports, after a DeleteSA of id failed, whether the data plane
// no longer has the pair (it removed it by itself, at a hard expiry):
// then the pair is forgotten here too rather than kept forever.
func pairGone(ctx context.Context, dp kernel.Dataplane, id kernel.SAPairID) bool {
	_, err := dp.SACounters(ctx, id)
	return err != nil
}

// Totals returns the traffic of every pair since the start: the deleted
// pairs' and the live pairs' counters now. It never decreases: a live
// pair's counters are read as the highest seen, and a deleted pair's
// move to the retired sum with at least that.
func (m *meteredDataplane) Totals(ctx context.Context) trafficTotals {
	m.mu.Lock()
	ids := make([]kernel.SAPairID, 0, len(m.live))
	for id := range m.live {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	now := make(map[kernel.SAPairID]kernel.Counters, len(ids))
	for _, id := range ids {
		if c, err := m.Dataplane.SACounters(ctx, id); err == nil {
			now[id] = c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.retired
	for id, last := range m.live {
		if c, ok := now[id]; ok {
			last = maxCounters(last, c)
			m.live[id] = last
		}
		t.add(last)
	}
	return t
}

// maxCounters is the larger of each of a and b's traffic counters.
func maxCounters(a trafficTotals, b kernel.Counters) trafficTotals {
	return trafficTotals{
		InBytes: max(a.InBytes, b.InBytes), OutBytes: max(a.OutBytes, b.OutBytes),
		InPackets: max(a.InPackets, b.InPackets), OutPackets: max(a.OutPackets, b.OutPackets),
	}
}
