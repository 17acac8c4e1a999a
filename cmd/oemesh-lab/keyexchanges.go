package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/oemesh/oemesh/internal/control"
)

// tunnelKeyExchanges asks host's daemon, as `oemesh traffic` does, how the
// IKE SA of its tunnel to dst through peer was keyed; "?" when the daemon
// does not answer.
func (l *labRun) tunnelKeyExchanges(ctx context.Context, host string, peer, dst netip.Addr) string {
	var ts []control.TunnelStatus
	if err := control.NewClient(l.mesh.Hosts[host].Socket).Do(ctx, "GET", "/v1/traffic", nil, &ts); err != nil {
		return "?"
	}
	return keyExchangesOf(ts, peer, dst)
}

// keyExchangesOf is the key exchanges of the tunnels with peer whose remote
// selectors hold dst: "" when there is none, the values joined by ','
// when they differ (a flow over two differently keyed SAs).
func keyExchangesOf(ts []control.TunnelStatus, peer, dst netip.Addr) string {
	var kes []string
	for _, t := range ts {
		if t.Peer != peer.String() || !covers(t.Remote, dst) {
			continue
		}
		if !slices.Contains(kes, t.KeyExchanges) {
			kes = append(kes, t.KeyExchanges)
		}
	}
	slices.Sort(kes)
	return strings.Join(kes, ",")
}

// covers reports whether one of the "START-END" selector ranges holds a.
func covers(ranges []string, a netip.Addr) bool {
	for _, r := range ranges {
		s, e, ok := strings.Cut(r, "-")
		if !ok {
			continue
		}
		start, err1 := netip.ParseAddr(s)
		end, err2 := netip.ParseAddr(e)
		if err1 == nil && err2 == nil && start.Compare(a) <= 0 && a.Compare(end) <= 0 {
			return true
		}
	}
	return false
}
