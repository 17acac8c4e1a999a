package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// sourceFor is the address this host sends from toward dst, from the
// routing table (no packet is sent).
func sourceFor(dst netip.Addr) (netip.Addr, error) {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return netip.Addr{}, err
	}
	for _, r := range routes {
		if a, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("the route to %s has no source address", dst)
}
