package netnstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oemesh/oemesh/internal/netnsdir"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var seq atomic.Uint32

// NS is a named network namespace made by New. Its Name works with
// `ip netns exec`, and Handle with netlink.NewHandleAt and netns.Set.
type NS struct {
	Name   string
	Handle netns.NsHandle
}

// Need skips the test unless it runs as root, naming what is missing.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to create network namespaces")
	}
}

// New creates a named network namespace "<prefix>-<pid>-<n>" with loopback
// up. It is deleted by t.Cleanup. The calling goroutine's namespace is not
// changed.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	Need(t)
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	h, err := newNamed(name)
	if err != nil {
		t.Fatalf("netnstest: create namespace %s: %v", name, err)
	}
	ns := &NS{Name: name, Handle: h}
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("netnstest: delete namespace %s: %v", name, err)
		}
	})
	if err := ns.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("netnstest: %s: set lo up: %v", name, err)
	}
	return ns
}

// newNamed creates the namespace on a locked thread and returns that thread
// to the namespace it came from. /run/netns is prepared first, so that a
// later `ip netns add` does not hide the namespace's mount (see netnsdir).
func newNamed(name string) (netns.NsHandle, error) {
	if err := netnsdir.Prepare(netnsdir.Dir); err != nil {
		return netns.None(), err
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace: leave it locked so
		// the runtime destroys it when the goroutine exits.
		return netns.None(), fmt.Errorf("return to original namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	return h, err
}

// Do runs fn on a locked OS thread inside the namespace and returns that
// thread to its original namespace afterwards. Sockets opened in fn stay in
// ns for their whole life; goroutines started by fn do NOT run in ns.
func (ns *NS) Do(fn func() error) error {
	return Do(ns.Handle, fn)
}

// Do runs fn on a locked OS thread inside the namespace h.
func Do(h netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netnstest: get current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netnstest: enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Keep the thread locked: it dies with this goroutine.
		return fmt.Errorf("netnstest: return to original namespace: %w (fn: %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Netlink returns a netlink handle bound to the namespace, closed by
// t.Cleanup.
func (ns *NS) Netlink(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns.Handle)
	if err != nil {
		t.Fatalf("netnstest: netlink handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(h.Close)
	return h
}

// Command returns a command that runs name with args inside the namespace
// (through `ip netns exec`).
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and fails the test if it fails;
// it returns the combined output.
func (ns *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netnstest: %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Sysctl writes a sysctl (e.g. "net/core/xfrm_acq_expires") inside the
// namespace. Only keys under net/ are per namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	err := ns.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("netnstest: %s: sysctl %s=%s: %v", ns.Name, key, value, err)
	}
}
