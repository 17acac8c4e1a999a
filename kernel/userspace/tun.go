package userspace

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// tunInfo is what the TUN device does for us, for Stats: how many packets
// one Read or Write may carry, and whether the kernel hands us TSO
// super-packets (split by tun.Device.Read) and takes coalesced ones (GRO
// in tun.Device.Write).
type tunInfo struct {
	batch    int
	offloads bool
}

// openTUN creates the TUN device in the current network namespace, removing
// a stale device of the same name first, and brings it up.
//
// With offloads the device is opened with virtio-net headers
// (IFF_VNET_HDR, then TUNSETOFFLOAD): the kernel hands us TSO
// super-packets that tun.Device.Read splits into MTU-sized segments (one
// read, many packets, each sealed on its own), and tun.Device.Write
// coalesces the TCP and UDP segments of one flow in a batch (GRO) before
// they reach the kernel. noOffloads opens it without the header: one
// packet per read and per write, as a plain TUN device; it is there to
// rule offloads out when chasing a problem, and for the tests that
// compare both.
func openTUN(nl *netlink.Handle, name string, mtu int, noOffloads bool) (tun.Device, int, tunInfo, error) {
	if l, err := nl.LinkByName(name); err == nil {
		if l.Type() != "tuntap" && l.Type() != "tun" {
			return nil, 0, tunInfo{}, fmt.Errorf("a %s device named %s exists and is not ours", l.Type(), name)
		}
		if err := nl.LinkDel(l); err != nil {
			return nil, 0, tunInfo{}, fmt.Errorf("remove stale TUN %s: %w", name, err)
		}
	}
	var dev tun.Device
	var err error
	if noOffloads {
		dev, err = createPlainTUN(name, mtu)
	} else {
		dev, err = tun.CreateTUN(name, mtu)
	}
	if err != nil {
		return nil, 0, tunInfo{}, fmt.Errorf("create TUN %s: %w", name, err)
	}
	l, err := nl.LinkByName(name)
	if err == nil {
		err = nl.LinkSetUp(l)
	}
	if err != nil {
		return nil, 0, tunInfo{}, errors.Join(fmt.Errorf("bring up TUN %s: %w", name, err), dev.Close())
	}
	// The tun package turns offloads on exactly when the device has the
	// virtio-net header, and then reads and writes in batches.
	batch := max(dev.BatchSize(), 1)
	return dev, l.Attrs().Index, tunInfo{batch: batch, offloads: batch > 1}, nil
}

// createPlainTUN opens a TUN device without IFF_VNET_HDR and hands it to
// the tun package, which then neither sets offloads nor batches.
func createPlainTUN(name string, mtu int) (tun.Device, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	// Non-blocking before os.NewFile, so that reads go through the
	// runtime's poller and Close wakes a blocked Read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	return tun.CreateTUNFromFile(os.NewFile(uintptr(fd), "/dev/net/tun"), mtu)
}
