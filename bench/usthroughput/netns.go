package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/device"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
)

// bench is the two namespaces joined by one veth pair, with an oemesh
// userspace device in each (SAs installed per path) and, once started,
// wireguard-go in each.
type bench struct {
	a, b     string // namespace names
	ha, hb   netns.NsHandle
	da, db   *userspace.Device
	steps    []*userspace.Device // -steps: one per step and namespace
	wga, wgb *device.Device
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func setup() (*bench, error) {
	pid := os.Getpid()
	b := &bench{a: fmt.Sprintf("usbencha-%d", pid), b: fmt.Sprintf("usbenchb-%d", pid), ha: -1, hb: -1}
	steps := [][]string{
		{"netns", "add", b.a}, {"netns", "add", b.b},
		{"link", "add", "va", "netns", b.a, "type", "veth", "peer", "name", "vb", "netns", b.b},
		{"-n", b.a, "link", "set", "lo", "up"}, {"-n", b.b, "link", "set", "lo", "up"},
		{"-n", b.a, "link", "set", "va", "up"}, {"-n", b.b, "link", "set", "vb", "up"},
		{"-n", b.a, "addr", "add", "198.18.0.1/24", "dev", "va"}, {"-n", b.b, "addr", "add", "198.18.0.2/24", "dev", "vb"},
	}
	for n := range espPaths {
		a, bb := espAddrs(uint32(n + 1))
		steps = append(steps, []string{"-n", b.a, "addr", "add", a.String() + "/24", "dev", "va"},
			[]string{"-n", b.b, "addr", "add", bb.String() + "/24", "dev", "vb"})
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return b, err
		}
	}
	var err error
	if b.ha, err = netns.GetFromName(b.a); err != nil {
		return b, err
	}
	if b.hb, err = netns.GetFromName(b.b); err != nil {
		return b, err
	}
	if err := inNS(b.ha, func() (err error) { b.da, err = userspace.New(context.Background(), userspace.Config{}); return }); err != nil {
		return b, err
	}
	if err := inNS(b.hb, func() (err error) { b.db, err = userspace.New(context.Background(), userspace.Config{}); return }); err != nil {
		return b, err
	}
	ctx := context.Background()
	for n := range espPaths {
		a, bb := espAddrs(uint32(n + 1))
		if err := b.da.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(bb, 32), Group: kernel.GroupPrivate}); err != nil {
			return b, err
		}
		if err := b.db.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(a, 32), Group: kernel.GroupPrivate}); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (b *bench) teardown() {
	for _, d := range append([]*userspace.Device{b.da, b.db}, b.steps...) {
		if d != nil {
			_ = d.Close()
		}
	}
	for _, w := range []*device.Device{b.wga, b.wgb} {
		if w != nil {
			w.Close()
		}
	}
	for _, h := range []netns.NsHandle{b.ha, b.hb} {
		if h >= 0 {
			h.Close()
		}
	}
	_ = ip("netns", "del", b.a)
	_ = ip("netns", "del", b.b)
}

// inNS runs fn on a locked thread inside the namespace h; sockets and
// devices fn creates stay there.
func inNS(h netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return to the original namespace: %w", err) // thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return ferr
}
