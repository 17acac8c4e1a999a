package xfrm

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

var (
	catV4 = CAT{Local: netip.MustParseAddr("198.18.0.1"), Leased: netip.MustParseAddr("100.64.0.1"), Peer: netip.MustParseAddr("198.18.0.2")}
	catV6 = CAT{Local: netip.MustParseAddr("2001:db8::1"), Leased: netip.MustParseAddr("fd00:64::1"), Peer: netip.MustParseAddr("2001:db8::2")}
)

// TestCATValidate: three distinct addresses of one family, or an error
// that says what is wrong.
func TestCATValidate(t *testing.T) {
	for _, c := range []CAT{catV4, catV6} {
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	a := netip.MustParseAddr
	for _, tc := range []struct {
		c    CAT
		want string
	}{
		{CAT{Local: catV4.Local, Leased: catV4.Leased}, "need Local, Leased and Peer"},
		{CAT{Local: a("0.0.0.0"), Leased: catV4.Leased, Peer: catV4.Peer}, "need Local, Leased and Peer"},
		{CAT{Local: catV4.Local, Leased: catV6.Leased, Peer: catV4.Peer}, "two families"},
		{CAT{Local: catV4.Local, Leased: catV4.Local, Peer: catV4.Peer}, "must differ"},
		{CAT{Local: a("fe80::1%eth0"), Leased: catV6.Leased, Peer: catV6.Peer}, "has a zone"},
	} {
		err := tc.c.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.c, err, tc.want)
		}
	}
}

// TestCATScripts: the rules translate Local→Peer through IPsec to the
// lease and decrypted Peer→Leased back to Local, in a table named for the
// lease and the peer that one transaction replaces.
func TestCATScripts(t *testing.T) {
	for _, tc := range []struct {
		c           CAT
		table       string
		out, in     string
		family, del string
	}{
		{catV4, "oemesh_cat_64400001_c6120002",
			"ip saddr 198.18.0.1 ip daddr 198.18.0.2 rt ipsec exists snat to 100.64.0.1",
			"ip saddr 198.18.0.2 ip daddr 100.64.0.1 meta ipsec exists dnat to 198.18.0.1",
			"ip", "delete table ip oemesh_cat_64400001_c6120002\n"},
		{catV6, "oemesh_cat_fd000064000000000000000000000001_20010db8000000000000000000000002",
			"ip6 saddr 2001:db8::1 ip6 daddr 2001:db8::2 rt ipsec exists snat to fd00:64::1",
			"ip6 saddr 2001:db8::2 ip6 daddr fd00:64::1 meta ipsec exists dnat to 2001:db8::1",
			"ip6", "delete table ip6 oemesh_cat_fd000064000000000000000000000001_20010db8000000000000000000000002\n"},
	} {
		if got := tc.c.table(); got != tc.table {
			t.Errorf("%s: table %q, want %q", tc.c, got, tc.table)
		}
		s := tc.c.installScript()
		for _, want := range []string{
			"table " + tc.family + " " + tc.table + " {}\n" + tc.del,
			"type nat hook postrouting priority srcnat; policy accept;\n\t\t" + tc.out + "\n",
			"type nat hook prerouting priority dstnat; policy accept;\n\t\t" + tc.in + "\n",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: install script lacks %q:\n%s", tc.c, want, s)
			}
		}
		if strings.Index(s, tc.del) > strings.Index(s, "chain cat_out") {
			t.Errorf("%s: install script deletes the table after filling it:\n%s", tc.c, s)
		}
		if got, want := tc.c.removeScript(), "table "+tc.family+" "+tc.table+" {}\n"+tc.del; got != want {
			t.Errorf("%s: remove script %q, want %q", tc.c, got, want)
		}
	}
}

// TestCATTemplate: the CAT policy takes the flow's outbound template, and
// only from a tunnel whose local selector is the lease and whose remote
// selector holds the peer.
func TestCATTemplate(t *testing.T) {
	host := hostPrefix
	outer := tmpl{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Family: 2, Mode: modeTunnel, Reqid: DefaultReqIDBase + 7}
	in := outer
	in.Src, in.Dst = outer.Dst, outer.Src
	fe := &flowEntry{reqid: outer.Reqid, policies: []policy{
		{Sel: selector{Src: netip.MustParsePrefix("198.18.0.0/24"), Dst: host(catV4.Leased)}, Dir: dirIn, Tmpl: &in},
		{Sel: selector{Src: host(catV4.Leased), Dst: netip.MustParsePrefix("198.18.0.0/24")}, Dir: dirOut, Tmpl: &outer},
	}}
	got, err := catTemplate(fe, catV4)
	if err != nil || got != outer {
		t.Fatalf("catTemplate: %+v, %v; want the outbound template %+v", got, err, outer)
	}
	pol := catPolicy(DefaultPriorityBase, catV4, got)
	if pol.Sel != (selector{Src: host(catV4.Local), Dst: host(catV4.Peer)}) || pol.Dir != dirOut || *pol.Tmpl != outer {
		t.Errorf("CAT policy %v %+v: want Local→Peer out with the flow's template", pol, pol.Tmpl)
	}
	if c, ok := classOf(DefaultPriorityBase, pol.Priority); !ok || c != classSA {
		t.Errorf("CAT policy priority %#x: want the SA class of our band (ahead of traps)", pol.Priority)
	}

	other := catV4
	other.Peer = netip.MustParseAddr("203.0.113.9")
	if _, err := catTemplate(fe, other); err == nil || !strings.Contains(err.Error(), "no outbound policy") {
		t.Errorf("peer outside the flow: %v, want no outbound policy", err)
	}
	transport := outer
	transport.Mode = modeTransport
	fe.policies[1].Tmpl = &transport
	if _, err := catTemplate(fe, catV4); err == nil || !strings.Contains(err.Error(), "tunnel") {
		t.Errorf("transport flow: %v, want refused for needing a tunnel", err)
	}
}

func TestParseNftTables(t *testing.T) {
	got, err := parseNftTables("table ip oemesh_cat_64400001_c6120002\ntable inet filter\n")
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"ip", "oemesh_cat_64400001_c6120002"}, {"inet", "filter"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parseNftTables: %v, want %v", got, want)
	}
	if got, err := parseNftTables(""); err != nil || len(got) != 0 {
		t.Errorf("no tables: %v, %v", got, err)
	}
	if _, err := parseNftTables("table ip x {\n"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a line that is not a table: %v, want an error naming it", err)
	}
}

// checkPair takes a pair with CAT only as a tunnel from the lease alone to
// one peer address, the shape InstallSA gives AddCAT (pairCAT).
func TestCheckPairCAT(t *testing.T) {
	a, b, leased := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("100.64.0.1")
	pair := func() kernel.SAPair {
		return kernel.SAPair{
			In:    kernel.SA{SPI: 0x1001, Src: b, Dst: a},
			Out:   kernel.SA{SPI: 0x2002, Src: a, Dst: b},
			Mode:  kernel.ModeTunnel,
			Local: []netip.Prefix{netip.PrefixFrom(leased, 32)}, Remote: []netip.Prefix{netip.PrefixFrom(b, 32)},
			CAT: &kernel.CAT{Host: a, Leased: leased},
		}
	}
	p := pair()
	if err := checkPair(&p); err != nil {
		t.Fatalf("checkPair: %v", err)
	}
	if c, ok := pairCAT(p); !ok || c != (CAT{Local: a, Leased: leased, Peer: b}) {
		t.Errorf("pairCAT = %v, %v; want %s as %s to %s", c, ok, a, leased, b)
	}
	for name, bad := range map[string]func(*kernel.SAPair){
		"transport":         func(p *kernel.SAPair) { p.Mode = kernel.ModeTransport },
		"local not lease":   func(p *kernel.SAPair) { p.Local = []netip.Prefix{netip.PrefixFrom(a, 32)} },
		"remote a net":      func(p *kernel.SAPair) { p.Remote = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} },
		"two remotes":       func(p *kernel.SAPair) { p.Remote = append(p.Remote, netip.MustParsePrefix("198.51.100.1/32")) },
		"lease of v6 on v4": func(p *kernel.SAPair) { p.CAT.Leased = netip.MustParseAddr("fd00::1") },
	} {
		p := pair()
		bad(&p)
		if err := checkPair(&p); err == nil || errors.Is(err, kernel.ErrCATUnsupported) {
			t.Errorf("%s: checkPair = %v, want a refusal that names the shape", name, err)
		}
	}
}
