package leftovers

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/oemesh/oemesh/internal/netnsdir"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel/xfrm"
)

func TestOurs(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ours bool
	}{
		{"ome12345-1-sw", 12345, true},
		{"omr77-3-dns", 77, true},
		{"omdep4242-a", 4242, true},
		{"ivm999-2-b", 999, true},
		{"usbencha-31337", 31337, true},
		{"xacq-2024-7a", 0, false},
		{"xacq-2024-7", 2024, true},
		{"ust-1234567-12", 1234567, true},
		{"myvpn", 0, false},
		{"ome-a", 0, false},
		{"docker-1", 0, false},
	} {
		pid, ok := Ours(tc.name)
		if ok != tc.ours || pid != tc.pid {
			t.Errorf("Ours(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ours)
		}
	}
}

// has reports whether items holds one of kind whose name contains name.
func has(items []Item, kind Kind, name string) bool {
	return slices.ContainsFunc(items, func(i Item) bool { return i.Kind == kind && strings.Contains(i.Name, name) })
}

// TestScanNamesWhatIsLeft: a namespace with a test bed's name, a process in
// it, a TUN device named oemesh0, and XFRM state and a policy in oemesh's
// bands are each named; the namespace of a run still going is spared when
// Live says so.
func TestScanNamesWhatIsLeft(t *testing.T) {
	ns := netnstest.New(t, "olk")
	nl := ns.Netlink(t)
	ctx, cancel := context.WithCancel(context.Background())
	sleeper := ns.Command(ctx, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sleeper.Wait() })
	tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "oemesh0"}, Mode: netlink.TUNTAP_MODE_TUN}
	// The TUN ioctl works in the calling thread's namespace, whatever the handle.
	if err := ns.Do(func() error { return netlink.LinkAdd(tun) }); err != nil {
		t.Fatalf("add TUN: %v", err)
	}
	// This kernel may carry no ESP algorithm (then no XFRM state can be
	// made): the state's selection is TestStateItems'.
	src, dst := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	reqid := int(xfrm.DefaultReqIDBase + 7)
	_, sel, _ := net.ParseCIDR("192.0.2.2/32")
	pol := &netlink.XfrmPolicy{Dst: sel, Dir: netlink.XFRM_DIR_OUT, Priority: int(xfrm.DefaultPriorityBase + 3),
		Tmpls: []netlink.XfrmPolicyTmpl{{Src: src, Dst: dst, Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: reqid}}}
	if err := nl.XfrmPolicyAdd(pol); err != nil {
		t.Fatalf("add XFRM policy: %v", err)
	}
	var items []Item
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if items, err = (Scanner{Netlink: nl}).Scan(); err != nil {
			t.Fatal(err)
		}
		// ip netns exec has become sleep once the process is in the namespace.
		if has(items, Process, "sleep") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []struct {
		kind Kind
		name string
	}{{Namespace, ns.Name}, {Process, fmt.Sprintf("%d sleep", sleeper.Process.Pid)}, {Link, "oemesh0"},
		{XFRMPolicy, "192.0.2.2/32"}} {
		if !has(items, want.kind, want.name) {
			t.Errorf("no %s %q among the leftovers:\n%v", want.kind, want.name, items)
		}
	}
	live, err := (Scanner{Netlink: nl, Live: LivePIDs("")}).Scan()
	if err != nil {
		t.Fatal(err)
	}
	if has(live, Namespace, ns.Name) || has(live, Process, "sleep") {
		t.Errorf("the namespace of this run, still going, is named although Live spares it:\n%v", live)
	}
}

// TestStateItems: XFRM state with a reqid in oemesh's band is named; the
// reqids just outside it, and another daemon's, are not.
func TestStateItems(t *testing.T) {
	src, dst := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	var states []netlink.XfrmState
	for i, reqid := range []uint32{xfrm.DefaultReqIDBase - 1, xfrm.DefaultReqIDBase, xfrm.DefaultReqIDBase + xfrm.ReqIDBand - 1, xfrm.DefaultReqIDBase + xfrm.ReqIDBand, 1} {
		states = append(states, netlink.XfrmState{Src: src, Dst: dst, Spi: 0x100 + i, Reqid: int(reqid)})
	}
	items := stateItems(states)
	if len(items) != 2 || !has(items, XFRMState, "spi 0x00000101") || !has(items, XFRMState, "spi 0x00000102") {
		t.Errorf("got %v, want the states with SPIs 0x101 and 0x102", items)
	}
}

// TestScanNamesHiddenMounts: an nsfs mount of ours twice on one path (the
// leak netnsdir prevents), or on a path whose file is gone, is named; a
// mount of someone else's namespace is not.
func TestScanNamesHiddenMounts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ome4-1-sw"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(dir, "mountinfo")
	lines := []string{
		"45 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw",
		fmt.Sprintf("69 68 0:4 net:[4026532175] %s/ome4-1-sw rw - nsfs nsfs rw", dir),
		fmt.Sprintf("71 70 0:4 net:[4026532175] %s/ome4-1-sw rw shared:3 - nsfs nsfs rw", dir),
		fmt.Sprintf("72 70 0:4 net:[4026532240] %s/ome4-1-dns rw shared:4 - nsfs nsfs rw", dir),
		fmt.Sprintf("73 70 0:4 net:[4026532241] %s/myvpn rw shared:5 - nsfs nsfs rw", dir),
	}
	if err := os.WriteFile(info, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := Scanner{NetnsDir: dir, MountInfo: info}.mounts(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || !has(items, Mount, "ome4-1-sw") || !has(items, Mount, "ome4-1-dns") {
		t.Errorf("mounts: got %v, want ome4-1-sw (twice) and ome4-1-dns (file gone)", items)
	}
}

// TestSweepDeadRemovesDeadRuns: SweepDead removes a namespace named for a
// run that is gone, and kills the process in it; the namespace of this
// run, still going, stays.
func TestSweepDeadRemovesDeadRuns(t *testing.T) {
	netnstest.Need(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("olk-%d-1", gone.Process.Pid)
	if err := newNamed(dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.DeleteNamed(dead) })
	mine := netnstest.New(t, "olk")
	sleeper := exec.Command("ip", "netns", "exec", dead, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sleeper.Wait(); close(done) }()
	t.Cleanup(func() { sleeper.Process.Kill(); <-done })
	time.Sleep(100 * time.Millisecond) // ip netns exec is in the namespace once it has started
	removed, err := SweepDead(Scanner{})
	if err != nil {
		t.Fatalf("SweepDead: %v (removed %v)", err, removed)
	}
	if !has(removed, Namespace, dead) {
		t.Errorf("SweepDead did not remove %s: %v", dead, removed)
	}
	if has(removed, Namespace, mine.Name) {
		t.Errorf("SweepDead removed %s, whose run goes on", mine.Name)
	}
	if _, err := os.Stat(filepath.Join(netnsdir.Dir, dead)); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dead, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("the process in %s still runs", dead)
	}
}

// newNamed makes a namespace under a name of the test's choosing (netnstest
// names them for this run), on a prepared /run/netns.
func newNamed(name string) error {
	if err := netnsdir.Prepare(netnsdir.Dir); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		return err
	}
	h.Close()
	return netns.Set(orig)
}
