package main

import (
	"net/netip"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// initLimits are the engine's IKE_SA_INIT flood defences from
// ike.limits.*. The configuration's 0 means off where the engine's zero
// means its default: off is negative there.
func initLimits(c config.IKELimits) ike.InitLimits {
	l := ike.InitLimits{
		LateCookieCheck:     !c.EarlyCookieCheck,
		SourceRate:          float64(c.CookiesPerSource),
		SourceBurst:         int(c.CookieBurstPerSource),
		BusyHalfOpenTimeout: c.BusyHalfOpenTimeout,
	}
	if c.CookiesPerSource == 0 {
		l.SourceRate = -1
	}
	if c.BusyHalfOpenTimeout == 0 {
		l.BusyHalfOpenTimeout = -1
	}
	return l
}

// ikeHandler is what the IKE sockets hand datagrams to: the engine's work
// queues (ike.Intake), so that the reader never waits on handshake work,
// or with ike.limits.work_queue 0 the engine itself, on the reader's
// goroutine. stop ends the queues' workers once the sockets are closed.
func (d *daemon) ikeHandler() (handle func(pkt []byte, local, remote netip.AddrPort), stop func()) {
	eng := d.oe.Engine()
	n := d.cfg.IKE.Limits.WorkQueue
	if n == 0 {
		return eng.HandlePacket, func() {}
	}
	in := eng.NewIntake(ike.IntakeConfig{Bulk: int(n)})
	return in.Handle, in.Close
}
