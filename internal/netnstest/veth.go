package netnstest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// Veth creates a veth pair with end aName in a and end bName in b, both up.
// Deleting the namespaces removes it; t.Cleanup also deletes it explicitly
// in case a namespace outlives the test.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	ha, hb := a.Netlink(t), b.Netlink(t)
	la := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName, Namespace: netlink.NsFd(a.Handle)},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(b.Handle),
	}
	if err := ha.LinkAdd(la); err != nil {
		t.Fatalf("netnstest: veth %s/%s ↔ %s/%s: %v", a.Name, aName, b.Name, bName, err)
	}
	t.Cleanup(func() {
		if l, err := ha.LinkByName(aName); err == nil {
			_ = ha.LinkDel(l)
		}
	})
	for _, x := range []struct {
		h    *netlink.Handle
		ns   *NS
		name string
	}{{ha, a, aName}, {hb, b, bName}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatalf("netnstest: %s: find %s: %v", x.ns.Name, x.name, err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatalf("netnstest: %s: set %s up: %v", x.ns.Name, x.name, err)
		}
	}
}

// Addr adds an address (e.g. 192.0.2.1/24 or 2001:db8::1/64) to dev in ns.
// IPv6 addresses skip duplicate address detection so they work at once.
func (ns *NS) Addr(t testing.TB, dev string, p netip.Prefix) {
	t.Helper()
	h := ns.Netlink(t)
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatalf("netnstest: %s: find %s: %v", ns.Name, dev, err)
	}
	a := &netlink.Addr{IPNet: prefixToIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = 0x02 // IFA_F_NODAD
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("netnstest: %s: add %s to %s: %v", ns.Name, p, dev, err)
	}
}

// Pair is two namespaces joined by one veth pair, with addresses.
type Pair struct {
	A, B       *NS
	ADev, BDev string
	A4, B4     netip.Addr // 192.0.2.1, 192.0.2.2
	A6, B6     netip.Addr // 2001:db8::1, 2001:db8::2
}

// NewPair makes the usual two-host topology: namespaces "<prefix>a-…" and
// "<prefix>b-…" joined by veth va ↔ vb, with 192.0.2.1/24 and
// 2001:db8::1/64 on A, 192.0.2.2/24 and 2001:db8::2/64 on B.
func NewPair(t testing.TB, prefix string) *Pair {
	t.Helper()
	p := &Pair{
		A: New(t, prefix+"a"), B: New(t, prefix+"b"),
		ADev: "va", BDev: "vb",
		A4: netip.MustParseAddr("192.0.2.1"), B4: netip.MustParseAddr("192.0.2.2"),
		A6: netip.MustParseAddr("2001:db8::1"), B6: netip.MustParseAddr("2001:db8::2"),
	}
	Veth(t, p.A, p.ADev, p.B, p.BDev)
	p.A.Addr(t, p.ADev, netip.PrefixFrom(p.A4, 24))
	p.B.Addr(t, p.BDev, netip.PrefixFrom(p.B4, 24))
	p.A.Addr(t, p.ADev, netip.PrefixFrom(p.A6, 64))
	p.B.Addr(t, p.BDev, netip.PrefixFrom(p.B6, 64))
	return p
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
