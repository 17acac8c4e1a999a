package oe

import (
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// hostOf reports the single address a selector list names, if it names
// exactly one host.
func hostOf(tss []ike.TrafficSelector) (netip.Addr, bool) {
	if len(tss) != 1 || tss[0].Start != tss[0].End {
		return netip.Addr{}, false
	}
	return tss[0].Start, true
}
