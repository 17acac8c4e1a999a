package main

import (
	"maps"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
)

// TestUDPEncapView: the status shows kernel.udp_encap resolved for the
// data plane the engine took it for (auto: always on userspace, only
// behind a NAT on xfrm), with the configured value beside it, and counts
// the SA pairs by how their ESP travels, leaving out those the engine no
// longer lists.
func TestUDPEncapView(t *testing.T) {
	tunnels := []oe.TunnelStatus{
		{Listed: true, ESPInUDP: true}, {Listed: true, ESPInUDP: true}, {Listed: true}, {Listed: false, ESPInUDP: true},
	}
	for _, tc := range []struct {
		u       udpEncap
		mode    control.UDPEncap
		summary string
	}{
		{udpEncap{configured: "auto", force: true, dataplane: kernel.BackendUserspace}, control.UDPEncapAlways, "auto (in effect: always, for the userspace data plane)"},
		{udpEncap{configured: "auto", force: false, dataplane: kernel.BackendXFRM}, control.UDPEncapNAT, "auto (in effect: only behind a NAT, for the xfrm data plane)"},
		{udpEncap{configured: "always", force: true, dataplane: kernel.BackendXFRM}, control.UDPEncapAlways, "always (in effect: always)"},
		{udpEncap{configured: "never", force: false, dataplane: kernel.BackendUserspace}, control.UDPEncapNAT, "never (in effect: only behind a NAT)"},
	} {
		v := tc.u.view(tunnels)
		if v.Configured != tc.u.configured || v.InEffect != tc.mode || !v.InEffect.Valid() || v.Why == "" {
			t.Errorf("%+v: view %+v; want configured %s, in effect %s, a reason", tc.u, v, tc.u.configured, tc.mode)
		}
		want := map[control.ESPTransport]int{control.ESPTransportUDP: 2, control.ESPTransportRaw: 1}
		if !maps.Equal(v.SAs, want) {
			t.Errorf("%+v: SAs %v, want %v", tc.u, v.SAs, want)
		}
		if got := tc.u.summary(); got != tc.summary {
			t.Errorf("%+v: summary %q, want %q", tc.u, got, tc.summary)
		}
	}
	if v := (udpEncap{configured: "auto", force: true, dataplane: kernel.BackendUserspace}).view(nil); v.SAs[control.ESPTransportUDP] != 0 || len(v.SAs) != 2 {
		t.Errorf("no tunnels: SAs %v, want both transports at 0", v.SAs)
	}
}

// TestTransportView: a pair's ESP transport on the wire, "" when the
// engine no longer lists it.
func TestTransportView(t *testing.T) {
	for _, tc := range []struct {
		t    oe.TunnelStatus
		want control.ESPTransport
	}{
		{oe.TunnelStatus{Listed: true, ESPInUDP: true}, control.ESPTransportUDP},
		{oe.TunnelStatus{Listed: true}, control.ESPTransportRaw},
		{oe.TunnelStatus{ESPInUDP: true}, ""},
	} {
		if got := transportView(tc.t); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.t, got, tc.want)
		}
		if got := tunnelView(tc.t).Transport; got != tc.want {
			t.Errorf("tunnelView(%+v).Transport = %q, want %q", tc.t, got, tc.want)
		}
	}
}
