package oe

import (
	"context"
	"fmt"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock"
)

// A responder cannot tell an initiator that is slow to send from one that
// gave up half-way (its resolver failed after IKE_AUTH, it crashed) and
// will never use the SAs: then we would encrypt every reply to a host
// that cannot read it, and no inbound traffic means no IKE liveness would
// ever notice. So a CHILD SA we installed as responder that has received
// nothing ResponderProbe after it came up makes us ask the peer, with an
// empty INFORMATIONAL, whether it is still there; the engine deletes the
// SAs when no answer comes within ResponderProbeAnswer.

// probeTicks paces probeSilent on the configured clock: four times per
// ResponderProbe, so a silent tunnel is probed at most a quarter late.
// Off, it returns a nil channel, which never delivers, and a no-op stop.
func (o *OE) probeTicks() (<-chan time.Time, func()) {
	if o.cfg.ResponderProbe <= 0 {
		return nil, func() {}
	}
	o.probed = o.cfg.Clock.Now()
	t := clock.NewTicker(o.cfg.Clock, max(o.cfg.ResponderProbe/4, 50*time.Millisecond))
	return t.C, t.Stop
}

// probeSilent checks each responder tunnel once, in the first run after it
// has been up ResponderProbe: if it has received nothing, its peer gets a
// liveness check. Runs in the Run goroutine only: each run covers the
// tunnels that fell due since the last, so nothing per tunnel is kept.
func (o *OE) probeSilent(ctx context.Context) {
	if o.cfg.ResponderProbe <= 0 {
		return
	}
	now := o.cfg.Clock.Now()
	from, to := o.probed.Add(-o.cfg.ResponderProbe), now.Add(-o.cfg.ResponderProbe)
	o.probed = now
	asked := map[ike.SAID]bool{}
	for _, t := range o.tunnels.All() {
		// A rekey's successor is not checked: the peer has just completed
		// the CREATE_CHILD_SA, so it is there; and every tunnel rekeys,
		// so checking them would probe each peer once a lifetime, in the
		// waves SAs made together rekey in.
		if t.Initiator() || t.Replaced || t.Rekey() || !t.Created.After(from) || t.Created.After(to) || asked[t.IKE] {
			continue
		}
		c, err := o.dp.SACounters(ctx, t.ID)
		if err != nil || c.InPackets > 0 {
			continue
		}
		asked[t.IKE] = true
		id, peer, spi := t.IKE, t.Peer(), fmt.Sprintf("%08x", t.InSPI())
		o.log.Info("tunnel we answered has received nothing: checking that its peer is alive",
			"peer", peer, "spi_in", spi, "up_for", now.Sub(t.Created).Round(time.Millisecond))
		// No goroutine per check: every silent tunnel may fall due at
		// once, and the runtime keeps a goroutine's memory after it ends.
		err = o.engine.ProbeLiveness(id, o.cfg.ResponderProbeAnswer, func(err error) {
			if err != nil {
				o.log.Info("peer of a silent tunnel does not answer: SAs deleted", "peer", peer, "spi_in", spi, "err", err)
				return
			}
			o.log.Debug("peer of a silent tunnel answered", "peer", peer, "spi_in", spi)
		})
		if err != nil {
			o.log.Debug("silent tunnel not checked", "peer", peer, "spi_in", spi, "err", err)
		}
	}
}
