package main

import (
	"context"
	"fmt"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/udpmux"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
	"github.com/oemesh/oemesh/kernel/xfrm"
)

// openDataplane chooses and starts the data plane, and says why it chose
// it. It also opens the IKE sockets (d.mux), which the data plane shares:
// the kernel's takes ESP-in-UDP off the NAT-T socket itself, the
// userspace one sends and receives it through the mux.
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
		// The sockets bypass our own policies, and the kernel takes
		// ESP-in-UDP off the NAT-T socket.
		if d.mux, err = d.openMux(ctx, cfg, udpmux.BypassRequired, true, 0); err != nil {
			dp.Close()
			return nil, err
		}
		return dp, nil
	case kernel.BackendUserspace:
		// The mux owns the NAT-T port: the device sends ESP-in-UDP
		// through it and takes what it receives (SetESPSink). Its sockets
		// carry the device's fwmark, so IKE bypasses the trap routes.
		if d.mux, err = d.openMux(ctx, cfg, udpmux.NoBypass, false, userspace.DefaultFwMark); err != nil {
			return nil, err
		}
		dev, err := userspace.New(ctx, userspace.Config{
			FailClosed:       cfg.Kernel.FailClosed,
			GuardNegotiating: cfg.Kernel.GuardNegotiating,
			CipherIdle:       cfg.Kernel.CipherIdle,
			NoOffloads:       !cfg.Kernel.Offloads,
			Table:            int(cfg.Kernel.Table),
			RulePriority:     int(cfg.Kernel.RulePriority),
			GuardTable:       int(cfg.Kernel.GuardTable),
			GuardPriority:    int(cfg.Kernel.GuardRulePriority),
			FwMark:           userspace.DefaultFwMark,
			EncapSend:        d.mux.SendESP,
			EncapSendBatch:   d.mux.SendESPBatch,
			Logger:           d.log,
		})
		if err != nil {
			return nil, fmt.Errorf("userspace data plane: %w", err)
		}
		if err := d.mux.SetESPSink(dev); err != nil {
			dev.Close()
			return nil, err
		}
		return dev, nil
	}
	return nil, fmt.Errorf("unknown data plane %q", backend)
}

// openMux opens the IKE and NAT-T sockets on the configured addresses.
func (d *daemon) openMux(ctx context.Context, cfg *config.Config, bypass udpmux.Bypass, kernelEncap bool, mark uint32) (*udpmux.Mux, error) {
	m, err := udpmux.Listen(ctx, udpmux.Config{
		Addrs:       cfg.Listen,
		Port:        int(cfg.IKEPort),
		NATTPort:    int(cfg.NATTPort),
		Mark:        mark,
		Bypass:      bypass,
		KernelEncap: kernelEncap,
		NoGSO:       !cfg.Kernel.Offloads,
		GRO:         !kernelEncap && cfg.Kernel.Offloads,
		IKEBatch:    int(cfg.IKE.Limits.ReadBatch),
		Logger:      d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("IKE sockets: %w", err)
	}
	return m, nil
}
