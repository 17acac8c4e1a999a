package userspace

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"
)

// openTUN creates the TUN device in the current network namespace, removing
// a stale device of the same name first, and brings it up. The device is
// opened with virtio-net headers, so the kernel hands us TSO super-packets
// that tun.Device.Read splits into MTU-sized segments (one read, many
// packets) and tun.Device.Write coalesces TCP segments (GRO) on the way in.
func openTUN(nl *netlink.Handle, name string, mtu int) (tun.Device, int, error) {
	if l, err := nl.LinkByName(name); err == nil {
		if l.Type() != "tuntap" && l.Type() != "tun" {
			return nil, 0, fmt.Errorf("a %s device named %s exists and is not ours", l.Type(), name)
		}
		if err := nl.LinkDel(l); err != nil {
			return nil, 0, fmt.Errorf("remove stale TUN %s: %w", name, err)
		}
	}
	dev, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, 0, fmt.Errorf("create TUN %s: %w", name, err)
	}
	l, err := nl.LinkByName(name)
	if err == nil {
		err = nl.LinkSetUp(l)
	}
	if err != nil {
		return nil, 0, errors.Join(fmt.Errorf("bring up TUN %s: %w", name, err), dev.Close())
	}
	return dev, l.Attrs().Index, nil
}
