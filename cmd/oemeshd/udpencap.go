package main

import (
	"fmt"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
)

// udpEncap is kernel.udp_encap as the engine took it at start: a reload
// does not change it, so the status shows this, not the file's value.
type udpEncap struct {
	configured string // auto, always or never
	force      bool   // ike.EngineConfig.ForceUDPEncap
	dataplane  string // the data plane it was resolved for
}

// inEffect is when ESP goes in UDP, and why, in prose.
func (u udpEncap) inEffect() (control.UDPEncap, string) {
	mode := control.UDPEncapNAT
	if u.force {
		mode = control.UDPEncapAlways
	}
	switch {
	case u.configured != "auto":
		return mode, "as configured"
	case u.dataplane == kernel.BackendUserspace:
		return mode, "the userspace data plane's UDP GSO/GRO fast path, which raw ESP cannot use"
	default:
		return mode, fmt.Sprintf("the %s data plane's kernel ESP needs no UDP", u.dataplane)
	}
}

// view is the status's udp_encap, counting the tunnels by transport.
func (u udpEncap) view(ts []oe.TunnelStatus) *control.UDPEncapStatus {
	mode, why := u.inEffect()
	v := &control.UDPEncapStatus{Configured: u.configured, InEffect: mode, Why: why,
		SAs: map[control.ESPTransport]int{control.ESPTransportRaw: 0, control.ESPTransportUDP: 0}}
	for _, t := range ts {
		if tr := transportView(t); tr != "" {
			v.SAs[tr]++
		}
	}
	return v
}

// summary is the configuration entry: the configured value and what it
// means now, e.g. "auto (in effect: always, for the userspace data
// plane)".
func (u udpEncap) summary() string {
	when := "only behind a NAT"
	if u.force {
		when = "always"
	}
	if u.configured != "auto" {
		return fmt.Sprintf("%s (in effect: %s)", u.configured, when)
	}
	return fmt.Sprintf("auto (in effect: %s, for the %s data plane)", when, u.dataplane)
}

// transportView is how a tunnel's ESP travels; "" when the engine no
// longer lists its CHILD SA.
func transportView(t oe.TunnelStatus) control.ESPTransport {
	switch {
	case !t.Listed:
		return ""
	case t.ESPInUDP:
		return control.ESPTransportUDP
	}
	return control.ESPTransportRaw
}
