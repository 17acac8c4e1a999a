package leftovers

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/kernel/xfrm"
)

// Kind says what sort of thing was left.
type Kind string

// The kinds of leftovers.
const (
	Namespace  Kind = "namespace"
	Mount      Kind = "nsfs mount"
	XFRMState  Kind = "xfrm state"
	XFRMPolicy Kind = "xfrm policy"
	Link       Kind = "link"
	Process    Kind = "process"
)

// Item is one leftover.
type Item struct {
	Kind   Kind
	Name   string // the namespace, mount point, link, "pid comm", or the XFRM selector
	Detail string // why it counts as ours
	pid    int    // a Process's
	ns     string // the leftover namespace a Process is in
}

func (i Item) String() string { return fmt.Sprintf("%s %s (%s)", i.Kind, i.Name, i.Detail) }

// Scanner looks for leftovers. The zero value looks at this machine: the
// namespaces in /run/netns, this process's mount table and network
// namespace, and every process in /proc.
type Scanner struct {
	NetnsDir  string          // default /run/netns
	MountInfo string          // default /proc/self/mountinfo
	Proc      string          // default /proc
	Netlink   *netlink.Handle // XFRM and links are read here; nil: this process's namespace
	// Live, if set, spares namespaces (and what is in them) whose run's
	// pid it reports alive: a developer's check while other runs go on.
	Live func(pid int) bool
}

func (s *Scanner) defaults() {
	if s.NetnsDir == "" {
		s.NetnsDir = "/run/netns"
	}
	if s.MountInfo == "" {
		s.MountInfo = "/proc/self/mountinfo"
	}
	if s.Proc == "" {
		s.Proc = "/proc"
	}
}

// Scan returns every leftover found, sorted by kind and name. An error
// means part of the machine could not be read; the items found are still
// returned.
func (s Scanner) Scan() ([]Item, error) {
	s.defaults()
	var items []Item
	var errs []error
	ns, err := s.namespaces()
	errs = append(errs, err)
	for _, n := range ns {
		if !n.live {
			items = append(items, Item{Kind: Namespace, Name: n.name, Detail: fmt.Sprintf("a test bed's name, its run (pid %d) gone", n.pid)})
		}
	}
	mounts, err := s.mounts(ns)
	items, errs = append(items, mounts...), append(errs, err)
	x, err := s.xfrm()
	items, errs = append(items, x...), append(errs, err)
	links, err := s.links()
	items, errs = append(items, links...), append(errs, err)
	procs, err := s.processes(ns)
	items, errs = append(items, procs...), append(errs, err)
	sort.Slice(items, func(i, j int) bool {
		if items[i].Kind != items[j].Kind {
			return items[i].Kind < items[j].Kind
		}
		return items[i].Name < items[j].Name
	})
	return items, errors.Join(errs...)
}

// namespace is a named namespace of ours.
type namespace struct {
	name  string
	pid   int    // the run that made it
	inode uint64 // the namespace's inode, 0 if the name no longer holds one
	live  bool   // Live says its run goes on
}

func (s Scanner) namespaces() ([]namespace, error) {
	entries, err := os.ReadDir(s.NetnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("leftovers: read %s: %w", s.NetnsDir, err)
	}
	var out []namespace
	for _, e := range entries {
		pid, ok := Ours(e.Name())
		if !ok {
			continue
		}
		n := namespace{name: e.Name(), pid: pid, live: s.Live != nil && s.Live(pid)}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(s.NetnsDir, e.Name()), &st) == nil {
			n.inode = st.Ino
		}
		out = append(out, n)
	}
	return out, nil
}

// mounts finds nsfs mounts of our namespaces that no name reaches: mounted
// on a path whose file is gone, or mounted more than once on the same path
// (one of them hidden beneath the other: the leak netnsdir prevents).
func (s Scanner) mounts(ns []namespace) ([]Item, error) {
	f, err := os.Open(s.MountInfo)
	if err != nil {
		return nil, fmt.Errorf("leftovers: %w", err)
	}
	defer f.Close()
	count := map[string]int{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) || fields[sep+1] != "nsfs" {
			continue
		}
		mp := unescape(fields[4])
		if _, ok := Ours(filepath.Base(mp)); !ok {
			continue
		}
		if count[mp] == 0 {
			order = append(order, mp)
		}
		count[mp]++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("leftovers: read %s: %w", s.MountInfo, err)
	}
	var items []Item
	for _, mp := range order {
		pid, _ := Ours(filepath.Base(mp))
		if s.Live != nil && s.Live(pid) {
			continue
		}
		switch _, err := os.Lstat(mp); {
		case count[mp] > 1:
			items = append(items, Item{Kind: Mount, Name: mp, Detail: fmt.Sprintf("mounted %d times: all but one hidden, so `ip netns del` fails with EBUSY", count[mp])})
		case errors.Is(err, os.ErrNotExist):
			items = append(items, Item{Kind: Mount, Name: mp, Detail: "mounted, but the file is gone"})
		}
	}
	return items, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func inBand(v, base, size uint32) bool { return v >= base && v < base+size }

// xfrm finds XFRM state and policies in oemesh's bands (kernel/xfrm's
// default priorities and reqids).
func (s Scanner) xfrm() ([]Item, error) {
	h := s.Netlink
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(unix.NETLINK_XFRM); err != nil {
			return nil, fmt.Errorf("leftovers: netlink: %w", err)
		}
		defer h.Close()
	}
	states, err := h.XfrmStateList(netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("leftovers: list XFRM state: %w", err)
	}
	items := stateItems(states)
	policies, err := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		return items, fmt.Errorf("leftovers: list XFRM policies: %w", err)
	}
	for _, p := range policies {
		reqid := false
		for _, t := range p.Tmpls {
			reqid = reqid || inBand(uint32(t.Reqid), xfrm.DefaultReqIDBase, xfrm.ReqIDBand)
		}
		if inBand(uint32(p.Priority), xfrm.DefaultPriorityBase, xfrm.PriorityBand) || reqid {
			items = append(items, Item{Kind: XFRMPolicy, Name: fmt.Sprintf("%v>%v dir %v", p.Src, p.Dst, p.Dir), Detail: fmt.Sprintf("priority 0x%x, in oemesh's band", p.Priority)})
		}
	}
	return items, nil
}

// parent returns the parent pid from a /proc/<pid> directory, 0 if unknown.
func parent(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// stateItems picks the XFRM state with a reqid in oemesh's band.
func stateItems(states []netlink.XfrmState) []Item {
	var items []Item
	for _, st := range states {
		if inBand(uint32(st.Reqid), xfrm.DefaultReqIDBase, xfrm.ReqIDBand) {
			items = append(items, Item{Kind: XFRMState, Name: fmt.Sprintf("%s>%s spi 0x%08x", st.Src, st.Dst, uint32(st.Spi)), Detail: fmt.Sprintf("reqid 0x%x in oemesh's band", st.Reqid)})
		}
	}
	return items
}

// links finds oemesh's TUN devices and links with the test beds' names.
func (s Scanner) links() ([]Item, error) {
	list := netlink.LinkList
	if s.Netlink != nil {
		list = s.Netlink.LinkList
	}
	links, err := list()
	if err != nil {
		return nil, fmt.Errorf("leftovers: list links: %w", err)
	}
	var items []Item
	for _, l := range links {
		name := l.Attrs().Name
		_, ours := Ours(name)
		switch {
		case l.Type() == "tuntap" && tunName.MatchString(name):
			items = append(items, Item{Kind: Link, Name: name, Detail: "oemesh's TUN device"})
		case ours || strings.HasPrefix(name, "oml"):
			items = append(items, Item{Kind: Link, Name: name, Detail: l.Type() + " with a test bed's name"})
		}
	}
	return items, nil
}

// processes finds every process inside a leftover namespace, and the
// daemons tests start still running elsewhere in a namespace other than
// ours or from a temporary directory (where the tests build oemeshd).
func (s Scanner) processes(ns []namespace) ([]Item, error) {
	inLeftover, inLive := map[uint64]string{}, map[uint64]bool{}
	for _, n := range ns {
		switch {
		case n.inode == 0:
		case n.live:
			inLive[n.inode] = true
		default:
			inLeftover[n.inode] = n.name
		}
	}
	var self unix.Stat_t
	if err := unix.Stat(filepath.Join(s.Proc, "self/ns/net"), &self); err != nil {
		return nil, fmt.Errorf("leftovers: own network namespace: %w", err)
	}
	entries, err := os.ReadDir(s.Proc)
	if err != nil {
		return nil, fmt.Errorf("leftovers: %w", err)
	}
	tmp := filepath.Clean(os.TempDir()) + "/"
	var items []Item
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join(s.Proc, e.Name())
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue // gone meanwhile
		}
		name := fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm)))
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, "ns/net"), &st) != nil {
			continue
		}
		if nsName, ok := inLeftover[st.Ino]; ok {
			items = append(items, Item{Kind: Process, Name: name, Detail: "in leftover namespace " + nsName, pid: pid, ns: nsName})
			continue
		}
		if inLive[st.Ino] || !daemons[strings.TrimSpace(string(comm))] {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		if s.Live != nil && s.Live(parent(dir)) && parent(dir) > 1 {
			continue // a run still going owns it (an orphan's parent is 1 or a subreaper)
		}
		switch {
		case st.Ino != self.Ino:
			items = append(items, Item{Kind: Process, Name: name, Detail: "a test daemon in another network namespace", pid: pid})
		case strings.HasPrefix(exe, tmp):
			items = append(items, Item{Kind: Process, Name: name, Detail: "a test daemon built in " + filepath.Dir(exe), pid: pid})
		}
	}
	return items, nil
}
