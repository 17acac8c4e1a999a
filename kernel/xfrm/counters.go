package xfrm

import (
	"context"
	"errors"
	"fmt"

	"github.com/oemesh/oemesh/kernel"
	"golang.org/x/sys/unix"
)

// SACounters implements kernel.Dataplane (kernel counters; last use from
// XFRMA_LASTUSED, which the kernel updates per packet).
func (d *Dataplane) SACounters(_ context.Context, id kernel.SAPairID) (kernel.Counters, error) {
	d.mu.Lock()
	pe, ok := d.pairs[id]
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return kernel.Counters{}, errors.New("xfrm: data plane is closed")
	}
	if !ok {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters of SA pair to %s (in %#08x, out %#08x): no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	in, err := d.ex.getState(pe.pair.In.Dst, pe.pair.In.SPI)
	if err != nil {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters: %w", err)
	}
	out, err := d.ex.getState(pe.pair.Out.Dst, pe.pair.Out.SPI)
	if errors.Is(err, unix.ESRCH) {
		d.mu.Lock()
		deferred := pe.deferredOut != nil
		d.mu.Unlock()
		if deferred {
			out, err = stateInfo{}, nil // not installed yet: nothing sent
		}
	}
	if err != nil {
		return kernel.Counters{}, fmt.Errorf("xfrm: counters: %w", err)
	}
	c := kernel.Counters{InBytes: in.Bytes, InPackets: in.Packets, OutBytes: out.Bytes, OutPackets: out.Packets, LastUse: in.LastUsed}
	if out.LastUsed.After(c.LastUse) {
		c.LastUse = out.LastUsed
	}
	// The SA's own last use (XFRMA_LASTUSED) is kept only for IPv6
	// route optimisation, and curlft.use_time is the first use. The
	// kernel stamps a policy's use_time on every lookup (inbound: every
	// packet), so the flow's policies tell the last use (as strongSwan does).
	d.mu.Lock()
	var pols []policy
	if fe := d.flows[pe.flow]; fe != nil {
		pols = append(pols, fe.policies...)
	}
	d.mu.Unlock()
	for _, p := range pols {
		got, err := d.ex.getPolicy(p.Sel, p.Dir)
		if err != nil {
			return c, fmt.Errorf("xfrm: last use: %w", err)
		}
		if got.UseTime.After(c.LastUse) {
			c.LastUse = got.UseTime
		}
	}
	return c, nil
}
