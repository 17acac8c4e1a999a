package peers

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// Two pluto instances doing NULL-auth OE (oe-authnull.conf, both with the /24 in
// private-or-clear), each direction on fresh instances so each runs a full
// IKE_SA_INIT + IKE_AUTH. On this kernel the CHILD SA is negotiated and then refused by the
// kernel: the responder logs errno 38 and answers TS_UNACCEPTABLE, the initiator keeps the
// IKE SA.
func TestLibreswanNullOEBothDirections(t *testing.T) {
	in := Require(t)
	t.Parallel()
	for _, dir := range []struct {
		name    string
		reverse bool // B initiates toward A
		trigger string
	}{
		{"A-to-B-by-whack-oppo", false, "whack"},
		{"B-to-A-by-packet-acquire", true, "ping"},
	} {
		t.Run(dir.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "pl")
			mk := func(ns string, addr netip.Addr) *Libreswan {
				return StartLibreswan(t, in, ns, LibreswanConfig{
					Conns:    OEConns(addr.String()),
					Policies: map[string][]string{"private-or-clear": {"192.0.2.0/24"}},
				})
			}
			a, b := mk(net.A.Name, net.A4), mk(net.B.Name, net.B4)
			ini, resp, iniAddr, respAddr, iniNS := a, b, net.A4.String(), net.B4.String(), net.A.Name
			if dir.reverse {
				ini, resp, iniAddr, respAddr, iniNS = b, a, net.B4.String(), net.A4.String(), net.B.Name
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			mi, mr := ini.Log.Mark(), resp.Log.Mark()
			switch dir.trigger {
			case "whack":
				out, err := ini.Oppo(ctx, iniAddr, respAddr)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, "initiator established IKE SA") {
					t.Errorf("whack --oppohere output lacks the established IKE SA:\n%s", out)
				}
			case "ping":
				// The trap policy (auto=route) turns the first packet into a kernel ACQUIRE.
				// The ping itself is held, then refused: only the ACQUIRE matters here.
				_ = exec.CommandContext(ctx, "ip", "netns", "exec", iniNS, "ping", "-n", "-c", "1", "-W", "1", respAddr).Run()
				if _, err := ini.Log.WaitFrom(ctx, mi, regexpFor(`initiate on-demand for packet `+iniAddr+`:\S+->`+respAddr)); err != nil {
					t.Fatal(err)
				}
			}
			for _, side := range []struct {
				l    *Libreswan
				peer string
			}{{ini, respAddr}, {resp, iniAddr}} {
				st, err := side.l.WaitIKEEstablished(ctx, side.peer)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(st.Conn, "private-or-clear#192.0.2.0/24") || st.Port != 500 {
					t.Errorf("IKE SA in %s: conn %q port %d; want the private-or-clear instance on port 500", side.l.NS, st.Conn, st.Port)
				}
				if brief, err := side.l.Whack(ctx, "--briefstatus"); err != nil || !strings.Contains(brief, "anonymous(1)") {
					t.Errorf("briefstatus in %s: want 1 anonymous (NULL-auth) IKE SA: %v\n%s", side.l.NS, err, brief)
				}
			}
			if _, err := ini.Log.WaitFrom(ctx, mi, regexpFor(`initiator established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
				t.Fatal(err)
			}
			if _, err := resp.Log.WaitFrom(ctx, mr, regexpFor(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
				t.Fatal(err)
			}
			// The CHILD SA: negotiated, then refused by this kernel on the responder, which
			// answers TS_UNACCEPTABLE.
			rr, err := resp.WaitChild(ctx, mr, iniAddr)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Outcome != ChildKernelNoESP && rr.Outcome != ChildEstablished {
				t.Errorf("responder CHILD SA: %v %v; want negotiated (kernel without ESP) or established", rr.Outcome, rr.Lines)
			}
			ir, err := ini.WaitChild(ctx, mi, respAddr)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Outcome == ChildKernelNoESP && (ir.Outcome != ChildRejectedByPeer || ir.Notify != "TS_UNACCEPTABLE") {
				t.Errorf("initiator CHILD SA: %v %s %v; want TS_UNACCEPTABLE from the responder", ir.Outcome, ir.Notify, ir.Lines)
			}
			if ts, err := ini.TrafficStatus(ctx); err != nil || (rr.Outcome == ChildKernelNoESP && len(ts) != 0) {
				t.Errorf("trafficstatus on the initiator: %v %+v", err, ts)
			}
		})
	}
}

// regexpFor compiles a log pattern (tests pass literal patterns).
func regexpFor(pattern string) *regexp.Regexp { return regexp.MustCompile(pattern) }
