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

// The tools' default IKE proposals, oemeshd's (ike.pq prefer): X25519 + ML-KEM-768 or
// NONE as ADDKE1, then the same proposals without ADDKE for peers without RFC 9370,
// which refuse a proposal carrying an ADDKE transform as a whole. Without --ike:
//   - probe → charon 6.1 requiring x25519-ke1_mlkem768: hybrid;
//   - probe → charon 6.1 configured classically: classical, no IKE_INTERMEDIATE;
//   - probe --pq require → charon 6.1 configured classically: NO_PROPOSAL_CHOSEN;
//   - charon 6.1 → respond, with ke1_mlkem768 required and optional: hybrid both times.
func TestPQDefaultStrongSwan6(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	hybrid := classical6
	hybrid.ike += "-ke1_mlkem768"
	probeArgs := func(net *netnstest.Pair, extra ...string) []string {
		args := []string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
			"--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}
		return append(append(args, extra...), a.flags...)
	}
	t.Run("probe-to-required", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pqdr")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("hybrid", a, net.B4.String(), net.A4.String(), hybrid)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net)...)
		checkHybridProbe(t, ctx, r, ssw, 0, a, classical6, net.B4.String(), `CURVE_25519/KE1_ML_KEM_768`)
	})
	t.Run("probe-to-classical", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pqdc")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("classic", a, net.B4.String(), net.A4.String(), classical6)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net)...)
		checkProbe(t, r, a, classical6, net.B4.String())
		if _, err := ssw.Log.WaitFrom(ctx, 0, charon6Classical); err != nil {
			t.Errorf("strongSwan 6.1: %v", err)
		}
		if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`IKE_INTERMEDIATE`)); len(l) > 0 {
			t.Errorf("a classical IKE SA used IKE_INTERMEDIATE: %q", l)
		}
	})
	t.Run("probe-require-to-classical", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pqdq")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("classic", a, net.B4.String(), net.A4.String(), classical6)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net, "--pq", "require")...)
		logProbe(t, r)
		if r.Exit != 2 || r.Report.Notify != "NO_PROPOSAL_CHOSEN" || r.Report.IKEEstablished {
			t.Errorf("probe --pq require to a classical charon: exit %d notify %q, want exit 2 NO_PROPOSAL_CHOSEN\n%s", r.Exit, r.Report.Notify, r)
		}
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received proposals unacceptable`)); err != nil {
			t.Errorf("strongSwan 6.1: %v", err)
		}
	})
	t.Run("to-respond", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pqdp")
		optional := classical6
		optional.ike += "-ke1_mlkem768-ke1_none"
		ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns: []peers.StrongSwanConn{
				sswConn("hybrid", a, net.A4.String(), net.B4.String(), hybrid),
				sswConn("optional", a, net.A4.String(), net.B4.String(), optional),
			},
		})
		resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String()}, a.flags...)...)
		for _, conn := range []string{"hybrid", "optional"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			from, mark := resp.mark(), ssw.Log.Mark()
			if lines, err := ssw.Initiate(ctx, conn, "host"); err != nil {
				cancel()
				t.Fatalf("%s: strongSwan 6.1 initiate: %v\n%s", conn, err, lines)
			}
			sa, err := ssw.WaitEstablished(ctx, conn, "host")
			if err != nil {
				cancel()
				t.Fatalf("%s: %v", conn, err)
			}
			if !slices.Equal(sa.AdditionalKE, []string{"ML_KEM_768"}) {
				t.Errorf("%s: IKE SA additional key exchanges %v, want [ML_KEM_768]", conn, sa.AdditionalKE)
			}
			checkResponded(t, ctx, resp, from, sa, a, classical6, net.A4.String())
			if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed IKE_INTERMEDIATE response 1 \[ (KE|EF\(1/\d+\)) \]`)); err != nil {
				t.Errorf("%s: strongSwan 6.1: %v", conn, err)
			}
			if err := ssw.Terminate(ctx, conn); err != nil {
				t.Errorf("%s: terminate: %v", conn, err)
			}
			if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
				t.Error(err)
			}
			cancel()
		}
	})
}

// The tools' default proposals to peers without RFC 9370, strongSwan 5.9.8 and Libreswan
// 4.10, which answer NO_PROPOSAL_CHOSEN to a proposal with any ADDKE transform (NONE
// included): the probe comes up classically on the classical proposals that follow the
// hybrid ones, and with --pq require it gets NO_PROPOSAL_CHOSEN; strongSwan 5.9.8
// initiating to respond --pq require gets NO_PROPOSAL_CHOSEN. (Those peers initiating
// to respond's default: TestStrongSwanToRespond and TestLibreswanNullOE, whose probe
// to Libreswan also runs the default.)
func TestPQDefaultOldPeers(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	p := proposalCases[0]
	for _, tc := range []struct {
		name string
		pq   []string
	}{{"prefer", nil}, {"require", []string{"--pq", "require"}}} {
		t.Run("strongswan5-"+tc.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "pqo"+tc.name[:1])
			ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
				Conns: []peers.StrongSwanConn{sswConn("p0", a, net.B4.String(), net.A4.String(), p)},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
				"--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, tc.pq...)
			r := runProbe(t, ctx, net.A, append(args, a.flags...)...)
			if tc.pq == nil {
				checkProbe(t, r, a, p, net.B4.String())
				// charon saw our hybrid proposals, their ADDKE1 as an unknown
				// transform type 6, then the classical ones, and chose among those.
				line, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received proposals: IKE:`))
				if err != nil {
					t.Fatalf("strongSwan 5.9.8: %v", err)
				}
				props := strings.Split(line[strings.Index(line, "received proposals: "):], ", IKE:")
				var hybrid []bool
				for _, prop := range props {
					hybrid = append(hybrid, strings.Contains(prop, "/UNKNOWN_6_36/UNKNOWN_6_0"))
				}
				if !slices.Equal(hybrid, []bool{true, true, false, false}) {
					t.Errorf("strongSwan 5.9.8 received %d proposals, hybrid %v; want the 2 hybrid then the 2 classical: %s", len(props), hybrid, line)
				}
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519$`)); err != nil {
					t.Errorf("strongSwan 5.9.8: %v", err)
				}
				return
			}
			logProbe(t, r)
			if r.Exit != 2 || r.Report.Notify != "NO_PROPOSAL_CHOSEN" || r.Report.IKEEstablished {
				t.Errorf("probe --pq require to strongSwan 5.9.8: exit %d notify %q, want exit 2 NO_PROPOSAL_CHOSEN\n%s", r.Exit, r.Report.Notify, r)
			}
		})
		if tc.pq != nil {
			// As responder too: strongSwan 5.9.8 initiating classically to
			// respond --pq require gets NO_PROPOSAL_CHOSEN.
			t.Run("strongswan5-to-respond-require", func(t *testing.T) {
				t.Parallel()
				net := netnstest.NewPair(t, "pqor")
				ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
					Conns: []peers.StrongSwanConn{sswConn("p0", a, net.A4.String(), net.B4.String(), p)},
				})
				resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(), "--pq", "require"}, a.flags...)...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if lines, err := ssw.Initiate(ctx, "p0", "host"); err == nil {
					t.Fatalf("strongSwan 5.9.8 established a classical IKE SA with respond --pq require:\n%s", strings.Join(lines, "\n"))
				}
				if _, err := ssw.Log.WaitFrom(ctx, 0, charon6NoProposal); err != nil {
					t.Errorf("strongSwan 5.9.8 did not get NO_PROPOSAL_CHOSEN: %v", err)
				}
				resp.mu.Lock()
				for _, ev := range resp.events {
					if ev.Event == "ike_up" || ev.Event == "child_up" {
						t.Errorf("respond --pq require reported %s: %s", ev.Event, ev.Line)
					}
				}
				resp.mu.Unlock()
			})
		}
		// Libreswan 4.10's OE (NULL): it skips our hybrid proposals and
		// establishes the IKE SA on a classical one; it refuses --pq require.
		t.Run("libreswan4-"+tc.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "pql"+tc.name[:1])
			lsw := peers.StartLibreswan(t, in, net.B.Name, peers.LibreswanConfig{
				Conns:    peers.OEConns(net.B4.String()),
				Policies: map[string][]string{"clear-or-private": {"192.0.2.0/24"}},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{net.B4.String(), "--auth", "null", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, tc.pq...)
			r := runProbe(t, ctx, net.A, args...)
			logProbe(t, r)
			if tc.pq == nil {
				if _, err := lsw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
					t.Errorf("pluto did not establish the IKE SA from our default offer: %v\n%s", err, r)
				}
				// pluto asks for MODP-2048 (INVALID_KE), then IKE_AUTH follows
				// IKE_SA_INIT directly: no IKE_INTERMEDIATE.
				var exch []string
				for _, x := range r.Report.Exchanges {
					exch = append(exch, x.Exchange)
				}
				if !r.Report.IKEEstablished || r.Report.IKE == nil || slices.Contains(exch, "IKE_INTERMEDIATE") || len(exch) < 2 || exch[len(exch)-1] != "IKE_AUTH" {
					t.Errorf("probe: IKE SA %v %+v, exchanges %v; want a classical IKE SA", r.Report.IKEEstablished, r.Report.IKE, exch)
				}
				return
			}
			if r.Exit != 2 || r.Report.Notify != "NO_PROPOSAL_CHOSEN" || r.Report.IKEEstablished {
				t.Errorf("probe --pq require to Libreswan 4.10: exit %d notify %q, want exit 2 NO_PROPOSAL_CHOSEN\n%s", r.Exit, r.Report.Notify, r)
			}
			if _, err := lsw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`no local proposal matches remote proposals`)); err != nil {
				t.Errorf("pluto: %v", err)
			}
		})
	}
}
