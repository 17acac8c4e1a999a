package interop

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// natNet is inside ─ router (source NAT, ports remapped) ─ outside:
// the inside host 198.51.100.2 reaches the outside host 203.0.113.2 as
// 203.0.113.1, from ports 40000-40999 whatever port it sent from.
type natNet struct {
	In, Router, Out *netnstest.NS
	InAddr, OutAddr netip.Addr
	Public          netip.Addr // the router's outside address
}

func newNATNet(t *testing.T, prefix string) *natNet {
	t.Helper()
	n := &natNet{
		In: netnstest.New(t, prefix+"i"), Router: netnstest.New(t, prefix+"r"), Out: netnstest.New(t, prefix+"o"),
		InAddr: netip.MustParseAddr("198.51.100.2"), OutAddr: netip.MustParseAddr("203.0.113.2"),
		Public: netip.MustParseAddr("203.0.113.1"),
	}
	netnstest.Veth(t, n.In, "vi", n.Router, "ri")
	netnstest.Veth(t, n.Router, "ro", n.Out, "vo")
	n.In.Addr(t, "vi", netip.MustParsePrefix("198.51.100.2/24"))
	n.Router.Addr(t, "ri", netip.MustParsePrefix("198.51.100.1/24"))
	n.Router.Addr(t, "ro", netip.MustParsePrefix("203.0.113.1/24"))
	n.Out.Addr(t, "vo", netip.MustParsePrefix("203.0.113.2/24"))
	n.In.Run(t, "ip", "route", "add", "default", "via", "198.51.100.1")
	n.Router.Sysctl(t, "net/ipv4/ip_forward", "1")
	n.Router.Run(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ro", "-p", "udp", "-j", "SNAT", "--to-source", "203.0.113.1:40000-40999")
	n.Router.Run(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ro", "-j", "MASQUERADE")
	return n
}

// NAT traversal through a real source NAT that remaps ports, both ways:
//   - oemesh probe behind the NAT → strongSwan outside: the probe detects
//     that it is behind a NAT and moves IKE to the NAT-T port;
//   - strongSwan behind the NAT → oemesh respond outside: respond sees
//     the peer behind a NAT, answers on the NAT-T port and marks the CHILD
//     SA UDP-encapsulated toward the NAT's mapped port; its liveness
//     checks reach strongSwan through the mapping.
func TestNATTraversal(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	var pskCase authCase
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "psk" {
			pskCase = a
		}
	}
	p := proposalCases[0]
	t.Run("probe-behind-nat", func(t *testing.T) {
		t.Parallel()
		n := newNATNet(t, "inp")
		conn := sswConn("nat", pskCase, n.OutAddr.String(), n.InAddr.String(), p)
		conn.RemoteAddrs = nil // the peer comes from the NAT's address
		// strongSwan's "dynamic" remote TS would be that public address; the
		// probe proposes its own (inside) address, as a NATed host does.
		conn.Children[0].RemoteTS = []string{n.InAddr.String() + "/32"}
		ssw := peers.StartStrongSwan(t, in, n.Out.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, n.In, append([]string{n.OutAddr.String(), "--id", n.InAddr.String(), "--peer-id", n.OutAddr.String(),
			"--ike", p.ike, "--esp", p.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, pskCase.flags...)...)
		checkProbe(t, r, pskCase, p, n.OutAddr.String())
		if !r.Report.NAT.LocalBehindNAT || !r.Report.NAT.NATT || r.Report.Child == nil || !r.Report.Child.Encap {
			t.Errorf("NAT %+v, child %+v; want us behind a NAT, IKE on the NAT-T port, ESP UDP-encapsulated", r.Report.NAT, r.Report.Child)
		}
		// strongSwan saw the probe as the NAT's public address and a
		// remapped port.
		re := regexp.MustCompile(`IKE_SA nat\[\d+\] established between ` + regexp.QuoteMeta(n.OutAddr.String()) + `\[[^\]]+\]\.\.\.` +
			regexp.QuoteMeta(n.Public.String()) + `\[`)
		if _, err := ssw.Log.WaitFrom(ctx, 0, re); err != nil {
			t.Error(err)
		}
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`remote host is behind NAT`)); err != nil {
			t.Error(err)
		}
	})
	t.Run("strongswan-behind-nat", func(t *testing.T) {
		t.Parallel()
		n := newNATNet(t, "ins")
		ssw := peers.StartStrongSwan(t, in, n.In.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{
			sswConn("nat", pskCase, n.InAddr.String(), n.OutAddr.String(), p)}})
		resp := startRespond(t, n.Out, append([]string{"--listen", n.OutAddr.String(), "--id", n.OutAddr.String(), "--peer-id", n.InAddr.String(),
			"--liveness", "1s"}, pskCase.flags...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if lines, err := ssw.Initiate(ctx, "nat", "host"); err != nil {
			t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, "nat", "host")
		if err != nil {
			t.Fatal(err)
		}
		if !sa.NATLocal {
			t.Errorf("strongSwan did not detect its NAT: %+v", sa)
		}
		checkResponded(t, ctx, resp, 0, sa, pskCase, p, n.InAddr.String())
		ev, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
		if err != nil {
			t.Fatal(err)
		}
		remote, err := netip.ParseAddrPort(ev.IKE.Remote)
		if err != nil || remote.Addr() != n.Public || remote.Port() < 40000 || remote.Port() > 40999 {
			t.Errorf("respond's peer is %s, want the NAT's %s with a port in 40000-40999", ev.IKE.Remote, n.Public)
		}
		if !ev.IKE.NATT || !strings.HasSuffix(ev.IKE.Local, ":4500") {
			t.Errorf("respond's IKE SA %+v; want it on the NAT-T port", *ev.IKE)
		}
		// respond's liveness check crosses the NAT to the mapped port and is
		// answered.
		mark := ssw.Log.Mark()
		if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed INFORMATIONAL request \d+ \[ \]`)); err != nil {
			t.Errorf("strongSwan got no liveness check from respond: %v", err)
		}
		if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`generating INFORMATIONAL response \d+ \[ \]`)); err != nil {
			t.Errorf("strongSwan did not answer respond's liveness check: %v", err)
		}
	})
}
