package interop

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// IPsec policies that demand ESP between the two hosts, with no SA to
// satisfy them, stop all other traffic; oemesh probe and respond still
// talk, because cmd/oemesh exempts their IKE sockets (kernel/xfrm's
// per-socket bypass through the transport's socket-control hook), as a
// daemon must when its own trap covers the peer.
func TestProbeRespondBypassIPsecPolicies(t *testing.T) {
	netnstest.Need(t)
	oemesh(t)
	t.Parallel()
	net := netnstest.NewPair(t, "ibp")
	a, b := net.A4.String(), net.B4.String()
	for _, side := range []struct {
		ns          *netnstest.NS
		local, peer string
	}{{net.A, a, b}, {net.B, b, a}} {
		for _, dir := range []struct{ dir, src, dst string }{{"out", side.local, side.peer}, {"in", side.peer, side.local}} {
			side.ns.Run(t, "ip", "xfrm", "policy", "add", "src", dir.src+"/32", "dst", dir.dst+"/32", "dir", dir.dir,
				"tmpl", "src", dir.src, "dst", dir.dst, "proto", "esp", "mode", "transport")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The policies bite: a ping finds no SA and goes nowhere.
	if out, err := net.A.Command(ctx, "ping", "-n", "-c", "1", "-W", "1", b).CombinedOutput(); err == nil {
		t.Fatalf("ping passed the ESP-only policy; the test proves nothing:\n%s", out)
	} else if _, ok := err.(*exec.ExitError); !ok {
		t.Fatal(err)
	}
	resp := startRespond(t, net.B, "--listen", b, "--auth", "null")
	r := runProbe(t, ctx, net.A, b, "--auth", "null", "--timeout", "3s")
	logProbe(t, r)
	if r.Exit != 0 || !r.Report.Established || !r.Report.Deleted {
		t.Fatalf("probe through the ESP-only policies: %s", r)
	}
	if _, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up")); err != nil {
		t.Error(err)
	}
}
