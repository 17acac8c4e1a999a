package oe

import (
	"context"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// nullTrafficTimeout bounds one data plane read of lastTraffic: it runs
// while a new NULL SA waits for its IKE_AUTH answer.
const nullTrafficTimeout = time.Second

// lastTraffic is the engine's ike.NullLimits.LastTraffic: the last packet
// through the tunnels of the IKE SA id with the peer at remote, so that
// the NULL SA caps never evict a tunnel in use because its IKE is quiet
// (the same measure as idle expiry, expireIdle). Zero when none carried
// anything or the data plane cannot say.
func (o *OE) lastTraffic(id ike.SAID, remote netip.Addr) time.Time {
	ctx, cancel := context.WithTimeout(o.life, nullTrafficTimeout)
	defer cancel()
	var last time.Time
	for _, t := range o.tunnels.ToPeer(remote) {
		if t.IKE != id {
			continue
		}
		if c, err := o.dp.SACounters(ctx, t.ID); err == nil && c.LastUse.After(last) {
			last = c.LastUse
		}
	}
	return last
}
