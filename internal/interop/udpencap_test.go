package interop

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// TestStrongSwanToRespondUDPEncap: strongSwan 5.9.8 initiates to oemesh
// respond without a NAT between them. With --udp-encap (oemeshd's
// kernel.udp_encap: always, the default on the userspace data plane) our
// NAT_DETECTION_SOURCE_IP cannot match, so strongSwan reports the remote
// end behind a NAT (nat-remote) and the SA carries ESP in UDP on 4500;
// without it, strongSwan sees no NAT at our end.
func TestStrongSwanToRespondUDPEncap(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("udp-encap=%v", force), func(t *testing.T) {
			t.Parallel()
			a := authCases(t, t.TempDir())[0] // PSK
			p := proposalCases[0]
			net := netnstest.NewPair(t, "iue")
			ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
				Conns: []peers.StrongSwanConn{sswConn("p0", a, net.A4.String(), net.B4.String(), p)}})
			args := append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String()}, a.flags...)
			if force {
				args = append(args, "--udp-encap")
			}
			resp := startRespond(t, net.B, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			from := resp.mark()
			if lines, err := ssw.Initiate(ctx, "p0", "host"); err != nil {
				t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
			}
			sa, err := ssw.WaitEstablished(ctx, "p0", "host")
			if err != nil {
				t.Fatal(err)
			}
			if sa.NATRemote != force || sa.NATLocal {
				t.Errorf("strongSwan's NAT view: remote behind NAT %v (want %v), local %v (want false): %+v", sa.NATRemote, force, sa.NATLocal, sa)
			}
			checkResponded(t, ctx, resp, from, sa, a, p, net.A4.String())
			ev, err := resp.waitEvent(ctx, from, "child_up", eventIs("child_up"))
			if err != nil {
				t.Fatal(err)
			}
			// strongSwan floats to 4500 in any case (MOBIKE, and its
			// kernel-libipsec forces UDP), so the port says nothing here;
			// what we told it does.
			if !ev.IKE.NATT || !strings.HasSuffix(ev.IKE.Local, ":4500") {
				t.Errorf("respond's IKE SA %+v; want it on the NAT-T port", *ev.IKE)
			}
		})
	}
}

// TestProbeToLibreswanUDPEncap: oemesh probe to Libreswan 4.10's OE
// responder, no NAT between them. With --udp-encap the probe floats to
// 4500 after IKE_SA_INIT although pluto's hashes match, and pluto answers
// IKE_AUTH there (it saw our source hash fail, so it expects NAT-T);
// without it the probe stays on 500.
func TestProbeToLibreswanUDPEncap(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("udp-encap=%v", force), func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "ilu")
			lsw := peers.StartLibreswan(t, in, net.B.Name, peers.LibreswanConfig{
				Conns:    peers.OEConns(net.B4.String()),
				Policies: map[string][]string{"clear-or-private": {"192.0.2.0/24"}},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mark := lsw.Log.Mark()
			args := []string{net.B4.String(), "--auth", "null", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}
			if force {
				args = append(args, "--udp-encap")
			}
			r := runProbe(t, ctx, net.A, args...)
			defer func() {
				if t.Failed() {
					t.Logf("probe output:\n%s\npluto since the probe:\n%s", r, strings.Join(lsw.Log.LinesFrom(mark, regexp.MustCompile(`.`)), "\n"))
				}
			}()
			rep := r.Report
			// IKE established: pluto answered and authenticated IKE_AUTH,
			// on 4500 when forced.
			if !rep.IKEEstablished {
				t.Fatalf("probe: IKE SA not established (exit %d, notify %q)", r.Exit, rep.Notify)
			}
			if rep.NAT.NATT != force || rep.NAT.LocalBehindNAT || rep.NAT.RemoteBehindNAT {
				t.Errorf("probe's NAT report %+v; want natt %v and no NAT detected", rep.NAT, force)
			}
		})
	}
}
