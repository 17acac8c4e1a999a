package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/oemesh/oemesh/internal/netnsdir"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a set of namespaces made together and removed together.
type Lab struct {
	prefix string

	mu    sync.Mutex
	nodes map[string]*Node
	order []*Node
	links int
}

// Node is one namespace: a host, a router or a switch.
type Node struct {
	Name   string // the lab's name for it, e.g. "a"
	NSName string // the namespace's name, for `ip netns exec`
	lab    *Lab
	handle netns.NsHandle
	nl     *netlink.Handle
	bridge *netlink.Bridge // set on switches
}

// New starts an empty lab whose namespaces are named "<prefix>-<node>".
// Stale namespaces with that prefix (left by a killed run) are removed first.
func New(prefix string) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: network namespaces need root")
	}
	l := &Lab{prefix: prefix, nodes: map[string]*Node{}}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			netns.DeleteNamed(e.Name())
		}
	}
	return l, nil
}

// Node returns the node named name, or nil.
func (l *Lab) Node(name string) *Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[name]
}

// AddHost makes a namespace with loopback up.
func (l *Lab) AddHost(name string) (*Node, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.nodes[name]; dup {
		return nil, fmt.Errorf("lab: node %q exists", name)
	}
	nsName := l.prefix + "-" + name
	h, err := newNamed(nsName)
	if err != nil {
		return nil, fmt.Errorf("lab: namespace %s: %w", nsName, err)
	}
	n := &Node{Name: name, NSName: nsName, lab: l, handle: h}
	l.nodes[name] = n
	l.order = append(l.order, n)
	if n.nl, err = netlink.NewHandleAt(h); err != nil {
		return nil, fmt.Errorf("lab: netlink in %s: %w", nsName, err)
	}
	lo, err := n.nl.LinkByName("lo")
	if err == nil {
		err = n.nl.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %s: loopback up: %w", nsName, err)
	}
	return n, nil
}

// AddSwitch makes a namespace holding a bridge named br0; Connect attaches
// hosts to it.
func (l *Lab) AddSwitch(name string) (*Node, error) {
	n, err := l.AddHost(name)
	if err != nil {
		return nil, err
	}
	// Without a multicast querier, snooping drops IPv6 neighbour
	// solicitations sent before a host's MLD report: switch it off.
	snooping := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &snooping}
	if err := n.nl.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("lab: %s: bridge: %w", n.NSName, err)
	}
	if err := n.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("lab: %s: bridge up: %w", n.NSName, err)
	}
	n.bridge = br
	return n, nil
}

// Connect links host to switch sw with a veth pair; the host end is named
// ifname and gets addrs (CIDR form, e.g. "198.18.0.1/24").
func (l *Lab) Connect(host, sw *Node, ifname string, addrs ...string) error {
	if sw.bridge == nil {
		return fmt.Errorf("lab: %s is not a switch", sw.Name)
	}
	peer, err := l.veth(host, sw, ifname, host.Name)
	if err != nil {
		return err
	}
	if err := sw.nl.LinkSetMaster(peer, sw.bridge); err != nil {
		return fmt.Errorf("lab: %s: attach %s to br0: %w", sw.NSName, peer.Attrs().Name, err)
	}
	if err := sw.nl.LinkSetUp(peer); err != nil {
		return err
	}
	return host.Addr(ifname, addrs...)
}

// Link joins two nodes directly: a's end is aIf with aAddrs, b's end is bIf
// with bAddrs.
func (l *Lab) Link(a *Node, aIf string, aAddrs []string, b *Node, bIf string, bAddrs []string) error {
	peer, err := l.veth(a, b, aIf, bIf)
	if err != nil {
		return err
	}
	if err := b.nl.LinkSetUp(peer); err != nil {
		return err
	}
	if err := a.Addr(aIf, aAddrs...); err != nil {
		return err
	}
	return b.Addr(bIf, bAddrs...)
}

// veth makes a pair with one end (aIf) in a and the other (bIf) in b, both
// up, and returns b's end.
func (l *Lab) veth(a, b *Node, aIf, bIf string) (netlink.Link, error) {
	l.mu.Lock()
	l.links++
	tmp := fmt.Sprintf("oml%d-%d", os.Getpid()%100000, l.links)
	l.mu.Unlock()
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: aIf, Namespace: netlink.NsFd(a.handle)},
		PeerName:  tmp, PeerNamespace: netlink.NsFd(b.handle),
	}
	if err := netlink.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("lab: veth %s(%s)–%s(%s): %w", a.Name, aIf, b.Name, bIf, err)
	}
	peer, err := b.nl.LinkByName(tmp)
	if err != nil {
		return nil, err
	}
	if err := b.nl.LinkSetName(peer, bIf); err != nil {
		return nil, fmt.Errorf("lab: rename %s in %s: %w", tmp, b.NSName, err)
	}
	if peer, err = b.nl.LinkByName(bIf); err != nil {
		return nil, err
	}
	link, err := a.nl.LinkByName(aIf)
	if err != nil {
		return nil, err
	}
	return peer, a.nl.LinkSetUp(link)
}

// Addr adds addresses (CIDR form) to the node's interface ifname. IPv6
// addresses skip duplicate address detection so they work at once.
func (n *Node) Addr(ifname string, addrs ...string) error {
	link, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("lab: %s: %s: %w", n.NSName, ifname, err)
	}
	for _, s := range addrs {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("lab: %s: address %q: %w", n.NSName, s, err)
		}
		if a.IP.To4() == nil {
			a.Flags |= unix.IFA_F_NODAD
		}
		if err := n.nl.AddrAdd(link, a); err != nil {
			return fmt.Errorf("lab: %s: add %s to %s: %w", n.NSName, s, ifname, err)
		}
	}
	return nil
}

// Route adds a route to dst via gw.
func (n *Node) Route(dst, gw string) error {
	p, err := netip.ParsePrefix(dst)
	if err != nil {
		return fmt.Errorf("lab: route %q: %w", dst, err)
	}
	g, err := netip.ParseAddr(gw)
	if err != nil {
		return fmt.Errorf("lab: gateway %q: %w", gw, err)
	}
	r := &netlink.Route{Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Gw: g.AsSlice()}
	if err := n.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("lab: %s: route %s via %s: %w", n.NSName, dst, gw, err)
	}
	return nil
}

// Sysctl writes a per-namespace sysctl such as "net/ipv4/ip_forward".
func (n *Node) Sysctl(key, value string) error {
	return n.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644)
	})
}

// Do runs fn on a locked OS thread inside the node's namespace. Sockets
// opened in fn stay in the namespace for their whole life.
func (n *Node) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.handle); err != nil {
		return fmt.Errorf("lab: enter %s: %w", n.NSName, err)
	}
	defer netns.Set(orig)
	return fn()
}

// Command runs a program inside the node's namespace.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NSName, name}, args...)...)
}

// Netlink is a netlink handle bound to the node's namespace.
func (n *Node) Netlink() *netlink.Handle { return n.nl }

// Close removes every namespace of the lab. It is safe to call twice.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i := len(l.order) - 1; i >= 0; i-- {
		n := l.order[i]
		if n.nl != nil {
			n.nl.Close()
		}
		n.handle.Close()
		if err := netns.DeleteNamed(n.NSName); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("lab: delete %s: %w", n.NSName, err))
		}
	}
	l.order, l.nodes = nil, map[string]*Node{}
	return errors.Join(errs...)
}

// newNamed creates a named namespace and returns the calling thread to the
// namespace it came from. /run/netns is prepared first, so that a later
// `ip netns add` does not hide the namespace's mount (see netnsdir).
func newNamed(name string) (netns.NsHandle, error) {
	if err := netnsdir.Prepare(netnsdir.Dir); err != nil {
		return 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		return 0, err
	}
	if err := netns.Set(orig); err != nil {
		h.Close()
		return 0, err
	}
	return h, nil
}
