package main

import (
	"context"
	"fmt"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
	"github.com/oemesh/oemesh/kernel/xfrm"
)

// openDataplane chooses and starts the data plane, and says why it chose it.
func (d *daemon) openDataplane(ctx context.Context, cfg *config.Config) (kernel.Dataplane, error) {
	backend, reason, err := kernel.Choose(cfg.Dataplane, xfrm.Probe)
	if err != nil {
		return nil, err
	}
	d.dpName, d.dpReason = backend, reason
	d.log.Info("data plane chosen", "backend", backend, "reason", reason)
	switch backend {
	case kernel.BackendXFRM:
		dp, err := xfrm.New(ctx, xfrm.Options{
			KeepLarvalDrop: !cfg.Kernel.HoldFirstPackets,
			FailClosed:     cfg.Kernel.FailClosed,
			Logger:         d.log,
		})
		if err != nil {
			return nil, fmt.Errorf("xfrm data plane: %w", err)
		}
		if cfg.Kernel.GuardNegotiating {
			// Not an error: with dataplane auto the same file serves hosts
			// that end up on either data plane.
			d.log.Info("kernel.guard_negotiating has no effect on xfrm: after a crash its trap policies stay and drop new and negotiating flows (docs/failclosed.md)")
		}
		return dp, nil
	case kernel.BackendUserspace:
		// IKE owns the NAT-T port; ESP-in-UDP goes through its socket.
		d.encap = &encapLink{}
		dev, err := userspace.New(ctx, userspace.Config{
			FailClosed:       cfg.Kernel.FailClosed,
			GuardNegotiating: cfg.Kernel.GuardNegotiating,
			CipherIdle:       cfg.Kernel.CipherIdle,
			Table:            int(cfg.Kernel.Table),
			RulePriority:     int(cfg.Kernel.RulePriority),
			GuardTable:       int(cfg.Kernel.GuardTable),
			GuardPriority:    int(cfg.Kernel.GuardRulePriority),
			EncapSend:        d.encap.send,
			Logger:           d.log,
		})
		if err != nil {
			return nil, fmt.Errorf("userspace data plane: %w", err)
		}
		d.encap.dev.Store(dev)
		d.fwmark = dev.FwMark()
		return dev, nil
	}
	return nil, fmt.Errorf("unknown data plane %q", backend)
}
