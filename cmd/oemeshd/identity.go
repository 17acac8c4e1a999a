package main

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// defaultRouteAddr is the address of the interface that holds the default
// route (IPv4 first, then IPv6): the identity when none is configured.
func defaultRouteAddr() (netip.Addr, string, error) {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, fam)
		if err != nil {
			return netip.Addr{}, "", fmt.Errorf("listing routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if a, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
				return a.Unmap(), "preferred source of the default route", nil
			}
			link, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				continue
			}
			addrs, err := netlink.AddrList(link, fam)
			if err != nil {
				continue
			}
			for _, ad := range addrs {
				a, ok := netip.AddrFromSlice(ad.IP)
				if ok && a.IsGlobalUnicast() {
					return a.Unmap(), "address of " + link.Attrs().Name + ", the default-route interface", nil
				}
			}
		}
	}
	return netip.Addr{}, "", fmt.Errorf("no default route with a global address; set identity in the configuration")
}
