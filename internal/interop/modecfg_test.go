package interop

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// Mode config with strongSwan 5.9.8: charon as a road-warrior client
// (vips = 0.0.0.0) of `oemesh respond --address-pool`, and `oemesh probe
// --request-address` as the client of charon serving a pool.

// pskCaseOf returns the PSK auth case, which both directions use: mode
// config does not depend on how the peers authenticate.
func pskCaseOf(t *testing.T) authCase {
	t.Helper()
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "psk" {
			return a
		}
	}
	t.Fatal("no psk auth case")
	return authCase{}
}

// TestStrongSwanModeCfgToRespond: charon asks for a virtual IP; respond
// leases the first pool address, narrows charon's TSi to it, and charon
// installs the CHILD SA with that /32 as its local selector. After
// charon's Delete the address is back in the pool, and a second client
// connection gets it again.
func TestStrongSwanModeCfgToRespond(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	a := pskCaseOf(t)
	p := proposalCases[0]
	net := netnstest.NewPair(t, "imc")
	conn := sswConn("rw", a, net.A4.String(), net.B4.String(), p)
	conn.Extra = append(conn.Extra, "vips = 0.0.0.0")
	// The harness keeps virtual IPs off the interfaces; a client needs
	// its own, or kernel-libipsec finds no source for the /32 route.
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn},
		Charon: []string{"install_virtual_ip = yes"}})
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
		"--address-pool", "100.64.0.1-100.64.0.9"}, a.flags...)...)
	const leased = "100.64.0.1"
	for round := 1; round <= 2; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		from := resp.mark()
		if lines, err := ssw.Initiate(ctx, "rw", "host"); err != nil {
			t.Fatalf("round %d: strongSwan initiate: %v\n%s", round, err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, "rw", "host")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !slices.Equal(sa.LocalVIPs, []string{leased}) {
			t.Errorf("round %d: charon's virtual IPs %v, want [%s]", round, sa.LocalVIPs, leased)
		}
		c, _ := sa.Child("host")
		if !slices.Equal(c.LocalTS, []string{leased + "/32"}) {
			t.Errorf("round %d: charon's CHILD SA local TS %v, want [%s/32]", round, c.LocalTS, leased)
		}
		ev, err := resp.waitEvent(ctx, from, "child_up", eventIs("child_up"))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if ev.Child == nil || !slices.Equal(ev.Child.VirtualIPs, []string{leased}) ||
			!slices.Equal(ev.Child.TSRemote, []string{leased + "-" + leased + " proto 0 ports 0-65535"}) {
			t.Errorf("round %d: respond's child_up %s", round, ev.Line)
		}
		if ev.Pool == nil || ev.Pool.Online != 1 {
			t.Errorf("round %d: pool after child_up: %s", round, ev.Line)
		}
		if err := ssw.Terminate(ctx, "rw"); err != nil {
			t.Errorf("round %d: terminate: %v", round, err)
		}
		down, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down"))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if down.Pool == nil || down.Pool.Online != 0 || down.Pool.Released != uint64(round) || len(down.Pool.Leases) != 0 {
			t.Errorf("round %d: the lease is not back in the pool after the delete: %s", round, down.Line)
		}
		cancel()
		if t.Failed() {
			return
		}
	}
}

// TestProbeModeCfgToStrongSwan: charon serves a pool; the probe asks for
// an address, gets charon's first one, and its CHILD SA's local selector
// is that address. After the probe's Delete, charon has no lease online.
func TestProbeModeCfgToStrongSwan(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	a := pskCaseOf(t)
	p := proposalCases[0]
	net := netnstest.NewPair(t, "ipm")
	conn := sswConn("gw", a, net.B4.String(), net.A4.String(), p)
	conn.Extra = append(conn.Extra, "pools = rw4")
	conn.Children[0].RemoteTS = []string{"dynamic"}
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn},
		Pools: []peers.StrongSwanPool{{Name: "rw4", Addrs: "10.99.0.0/24"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := 1; round <= 2; round++ {
		mark := ssw.Log.Mark()
		args := append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
			"--ike", p.ike, "--esp", p.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s",
			"--request-address"}, a.flags...)
		r := runProbe(t, ctx, net.A, args...)
		rep := r.Report
		if r.Exit != 0 || !rep.Established || rep.Child == nil {
			t.Fatalf("round %d: probe did not establish:\n%s", round, r)
		}
		// charon's in-memory pool starts at the prefix's first host, and
		// gives the same identity its address back.
		const want = "10.99.0.1"
		if !slices.Equal(rep.Child.VirtualIPs, []string{want}) {
			t.Errorf("round %d: probe's virtual IPs %v, want [%s]", round, rep.Child.VirtualIPs, want)
		}
		if !slices.Equal(rep.Child.TSLocal, []string{want + "-" + want + " proto 0 ports 0-65535"}) {
			t.Errorf("round %d: probe's TSLocal %v, want %s alone", round, rep.Child.TSLocal, want)
		}
		if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`assigning virtual IP `+regexp.QuoteMeta(want)+` to peer`)); err != nil {
			t.Errorf("round %d: charon did not log the lease: %v", round, err)
		}
		if err := waitNoSA(ctx, ssw); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if t.Failed() {
			t.Logf("probe output:\n%s", r)
			return
		}
	}
}

// TestStrongSwanModeCfgDualStackToRespond: charon asks for an IPv4 and an
// IPv6 virtual IP (vips = 0.0.0.0,::) over an IPv4 IKE SA; respond leases
// one of each from a dual pool and narrows charon's TSi to both.
func TestStrongSwanModeCfgDualStackToRespond(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	a := pskCaseOf(t)
	p := proposalCases[0]
	net := netnstest.NewPair(t, "imd")
	conn := sswConn("rw", a, net.A4.String(), net.B4.String(), p)
	conn.Extra = append(conn.Extra, "vips = 0.0.0.0,::")
	conn.Children[0].RemoteTS = []string{net.B4.String(), net.B6.String()}
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn},
		Charon: []string{"install_virtual_ip = yes"}})
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
		"--address-pool", "100.64.0.1-100.64.0.9,fd00:64::/120"}, a.flags...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if lines, err := ssw.Initiate(ctx, "rw", "host"); err != nil {
		t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
	}
	sa, err := ssw.WaitEstablished(ctx, "rw", "host")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sa.LocalVIPs, []string{"100.64.0.1", "fd00:64::1"}) {
		t.Errorf("charon's virtual IPs %v, want [100.64.0.1 fd00:64::1]", sa.LocalVIPs)
	}
	c, _ := sa.Child("host")
	if !slices.Equal(c.LocalTS, []string{"100.64.0.1/32", "fd00:64::1/128"}) {
		t.Errorf("charon's CHILD SA local TS %v, want [100.64.0.1/32 fd00:64::1/128]", c.LocalTS)
	}
	ev, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Child == nil || !slices.Equal(ev.Child.VirtualIPs, []string{"100.64.0.1", "fd00:64::1"}) {
		t.Errorf("respond's child_up %s", ev.Line)
	}
	if err := ssw.Terminate(ctx, "rw"); err != nil {
		t.Errorf("terminate: %v", err)
	}
	down, err := resp.waitEvent(ctx, 0, "ike_down after strongSwan's Delete", eventIs("ike_down"))
	if err != nil {
		t.Fatal(err)
	}
	if down.Pool == nil || down.Pool.Online != 0 || down.Pool.Released != 2 {
		t.Errorf("the leases are not back in the pool after the delete: %s", down.Line)
	}
}
