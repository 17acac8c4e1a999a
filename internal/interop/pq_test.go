package interop

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// Interop with strongSwan 6.1 (Debian sid, in the chroot that scripts/install-peers.sh
// builds), the peer that speaks RFC 9242 IKE_INTERMEDIATE, RFC 9370 additional key
// exchanges and ML-KEM. oemesh runs RFC 9370's additional key exchanges in IKE_INTERMEDIATE
// exchanges when its policy names them: the probe below offers them and establishes
// hybrid IKE SAs with charon; `oemesh respond --pq off` (classical) answers a required
// hybrid with NO_PROPOSAL_CHOSEN and an optional one with NONE (pq_hybrid_test.go has
// respond with ke1_mlkem768, pq_default_test.go the tools' hybrid default).

// classical6 is the plain proposal strongSwan 6.1 and oemesh share.
var classical6 = proposalCase{
	ike: "aes256gcm16-prfsha384-x25519", esp: "aes256gcm16",
	encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHCurve25519.String(),
	childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
}

// strongSwan 6.1's log lines for the proposal it settled on.
var (
	charon6Classical  = regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519(\s|$)`)
	charon6Started    = regexp.MustCompile(`Starting charon-systemd IKE daemon \(strongSwan 6\.`)
	charon6NoProposal = regexp.MustCompile(`received NO_PROPOSAL_CHOSEN notify error`)
)

// ed25519Case returns the raw Ed25519 key auth case, the one OE uses.
func ed25519Case(t *testing.T) authCase {
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "ed25519" {
			return a
		}
	}
	t.Fatal("no ed25519 auth case")
	return authCase{}
}

// oemesh probe → strongSwan 6.1 responding:
//   - classical: with a classical proposal the harness runs 6.1 end to end with oemesh, and
//     6.1 installs the CHILD SA (kernel-libipsec);
//   - optional-to-classical: we offer ke1_mlkem768-ke1_none to charon configured without
//     ADDKE; it picks NONE (and leaves ADDKE1 out of its answer, which we accept because we
//     offered NONE), and the IKE SA comes up classically, without IKE_INTERMEDIATE;
//   - optional-to-required: the same offer to charon requiring ke1_mlkem768. We send
//     INTERMEDIATE_EXCHANGE_SUPPORTED, charon selects ML-KEM-768, and the IKE SA is hybrid:
//     X25519 in IKE_SA_INIT, ML-KEM-768 in IKE_INTERMEDIATE 1, IKE_AUTH 2, each side's AUTH
//     covering the IntAuth chain (charon verifies ours, we verify its);
//   - hybrid-required: charon requires ke1_mlkem768; it answers NO_PROPOSAL_CHOSEN to a
//     classical offer, and the same hybrid offer from us comes up hybrid.
func TestProbeToStrongSwan6(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	probeArgs := func(net *netnstest.Pair, offer string) []string {
		return append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
			"--ike", offer, "--esp", classical6.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)
	}
	t.Run("classical", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pq6")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("classic", a, net.B4.String(), net.A4.String(), classical6)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net, classical6.ike)...)
		checkProbe(t, r, a, classical6, net.B4.String())
		for _, re := range []*regexp.Regexp{charon6Started, charon6Classical, regexp.MustCompile(a.sswAuthRe),
			regexp.MustCompile(`CHILD_SA host\{\d+\} established`), regexp.MustCompile(`received DELETE for IKE_SA`)} {
			if _, err := ssw.Log.WaitFrom(ctx, 0, re); err != nil {
				t.Errorf("strongSwan 6.1: %v", err)
			}
		}
		if err := waitNoSA(ctx, ssw); err != nil {
			t.Error(err)
		}
	})
	optional := classical6.ike + "-ke1_mlkem768-ke1_none"
	t.Run("optional-to-classical", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pq6o")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("classic", a, net.B4.String(), net.A4.String(), classical6)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net, optional)...)
		checkProbe(t, r, a, classical6, net.B4.String())
		if r.Report.KeyExchanges != "x25519" || r.Report.QuantumResistant {
			t.Errorf("probe key exchanges %q, quantum-resistant %v; want x25519, false", r.Report.KeyExchanges, r.Report.QuantumResistant)
		}
		for _, re := range []*regexp.Regexp{charon6Classical, regexp.MustCompile(`CHILD_SA host\{\d+\} established`)} {
			if _, err := ssw.Log.WaitFrom(ctx, 0, re); err != nil {
				t.Errorf("strongSwan 6.1: %v", err)
			}
		}
		if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`IKE_INTERMEDIATE`)); len(l) > 0 {
			t.Errorf("a classical IKE SA used IKE_INTERMEDIATE: %q", l)
		}
	})
	t.Run("optional-to-required", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pq6q")
		hybrid := classical6
		hybrid.ike += "-ke1_mlkem768"
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("hybrid", a, net.B4.String(), net.A4.String(), hybrid)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, probeArgs(net, optional)...)
		checkHybridProbe(t, ctx, r, ssw, 0, a, classical6, net.B4.String(), `CURVE_25519/KE1_ML_KEM_768`)
	})
	t.Run("hybrid-required", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "pq6h")
		hybrid := classical6
		hybrid.ike += "-ke1_mlkem768"
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
			Version: peers.StrongSwan6,
			Conns:   []peers.StrongSwanConn{sswConn("hybrid", a, net.B4.String(), net.A4.String(), hybrid)},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		mark := ssw.Log.Mark()
		r := runProbe(t, ctx, net.A, probeArgs(net, classical6.ike)...)
		logProbe(t, r)
		if r.Exit != 2 || r.Report.Notify != "NO_PROPOSAL_CHOSEN" || r.Report.IKEEstablished {
			t.Errorf("offer %s to charon requiring ke1_mlkem768: exit %d notify %q, want exit 2 NO_PROPOSAL_CHOSEN\n%s",
				classical6.ike, r.Exit, r.Report.Notify, r)
		}
		for _, re := range []*regexp.Regexp{regexp.MustCompile(`received proposals unacceptable`), regexp.MustCompile(`generating IKE_SA_INIT response 0 \[ N\(NO_PROP\) \]`)} {
			if _, err := ssw.Log.WaitFrom(ctx, mark, re); err != nil {
				t.Errorf("offer %s: strongSwan 6.1: %v", classical6.ike, err)
			}
		}
		mark = ssw.Log.Mark()
		r = runProbe(t, ctx, net.A, probeArgs(net, hybrid.ike)...)
		checkHybridProbe(t, ctx, r, ssw, mark, a, classical6, net.B4.String(), `CURVE_25519/KE1_ML_KEM_768`)
	})
}

// strongSwan 6.1 initiating to `oemesh respond --pq off` (classical), one conn per
// proposal against one responder:
//   - classical: the tunnel comes up and goes down again on strongSwan's Delete;
//   - hybrid, required (ke1_mlkem768): respond's classical policy accepts only NONE for
//     ADDKE1, so we refuse the proposal as a whole with NO_PROPOSAL_CHOSEN, and strongSwan
//     logs receiving it; no SA is made on either side (pq_hybrid_test.go runs respond
//     --ike with ke1_mlkem768, which comes up hybrid);
//   - hybrid, optional (ke1_mlkem768-ke1_none): strongSwan offers ADDKE1 with NONE in the
//     same proposal; we choose NONE, and the IKE SA comes up classically;
//   - a hybrid proposal followed by a classical one: we pick the classical one, and the
//     tunnel comes up without an additional key exchange.
func TestStrongSwan6ToRespond(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	net := netnstest.NewPair(t, "pq6r")
	hybrid, optional := classical6, classical6
	hybrid.ike += "-ke1_mlkem768"
	optional.ike += "-ke1_mlkem768-ke1_none"
	fallback := sswConn("fallback", a, net.A4.String(), net.B4.String(), classical6)
	fallback.Proposals = []string{hybrid.ike, classical6.ike}
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
		Version: peers.StrongSwan6,
		Conns: []peers.StrongSwanConn{
			sswConn("classic", a, net.A4.String(), net.B4.String(), classical6),
			sswConn("hybrid", a, net.A4.String(), net.B4.String(), hybrid),
			sswConn("optional", a, net.A4.String(), net.B4.String(), optional),
			fallback,
		},
	})
	// --pq off: this test is about the classical policy's answers to hybrid proposals;
	// respond's default (prefer) runs them (pq_default_test.go).
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(), "--pq", "off"}, a.flags...)...)

	// established runs conn, which must come up classically.
	established := func(t *testing.T, conn string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		from, mark := resp.mark(), ssw.Log.Mark()
		if lines, err := ssw.Initiate(ctx, conn, "host"); err != nil {
			t.Fatalf("strongSwan 6.1 initiate: %v\n%s", err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, conn, "host")
		if err != nil {
			t.Fatal(err)
		}
		if len(sa.AdditionalKE) != 0 {
			t.Errorf("classical IKE SA has additional key exchanges %v", sa.AdditionalKE)
		}
		checkResponded(t, ctx, resp, from, sa, a, classical6, net.A4.String())
		if _, err := ssw.Log.WaitFrom(ctx, mark, charon6Classical); err != nil {
			t.Error(err)
		}
		if l := ssw.Log.LinesFrom(mark, regexp.MustCompile(`IKE_INTERMEDIATE`)); len(l) > 0 {
			t.Errorf("a classical IKE SA used IKE_INTERMEDIATE: %q", l)
		}
		if err := ssw.Terminate(ctx, conn); err != nil {
			t.Errorf("terminate: %v", err)
		}
		if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
			t.Error(err)
		}
	}

	t.Run("classical", func(t *testing.T) { established(t, "classic") })

	// refused runs conn, which offers only proposals with ADDKE1, and checks that it
	// fails with our NO_PROPOSAL_CHOSEN, seen from both sides.
	refused := func(t *testing.T, conn string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		from, mark, errMark := resp.mark(), ssw.Log.Mark(), len(resp.stderr.String())
		lines, err := ssw.Initiate(ctx, conn, "host")
		if err == nil {
			t.Fatalf("strongSwan 6.1 established %s with oemesh, which does not do RFC 9370 yet:\n%s", conn, strings.Join(lines, "\n"))
		}
		if _, err := ssw.Log.WaitFrom(ctx, mark, charon6NoProposal); err != nil {
			t.Errorf("strongSwan 6.1 did not get NO_PROPOSAL_CHOSEN: %v", err)
		}
		// Our side: the engine logs why (at debug level, which respond --debug shows).
		why := regexp.MustCompile(`IKE_SA_INIT: no proposal chosen.*no acceptable ADDKE1: offered \[ML_KEM_768\], accept \[NONE\]`)
		if since, ok := resp.waitLog(ctx, errMark, why); !ok {
			t.Errorf("oemesh respond did not log refusing the ADDKE1 proposal; stderr:\n%s", lastLines(since, 20))
		}
		// NO_PROPOSAL_CHOSEN ended the exchange: charon has logged all it will about it.
		if l := ssw.Log.LinesFrom(mark, regexp.MustCompile(`peer's proposal selection invalid`)); len(l) > 0 {
			t.Errorf("strongSwan 6.1 got a proposal selection it calls invalid (the defect issue 15 names): %q", l)
		}
		sas, err := ssw.ListSAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas {
			if sa.Name == conn && sa.Established() {
				t.Errorf("strongSwan 6.1 holds an established IKE SA %s", sa.Name)
			}
		}
		resp.mu.Lock()
		for _, ev := range resp.events[from:] {
			if ev.Event == "ike_up" || ev.Event == "child_up" {
				t.Errorf("oemesh respond reported %s for a refused proposal: %s", ev.Event, ev.Line)
			}
		}
		resp.mu.Unlock()
	}

	t.Run("hybrid-required", func(t *testing.T) { refused(t, "hybrid") })

	// With "-ke1_mlkem768-ke1_none" strongSwan 6.1 sends ONE proposal whose ADDKE1
	// transforms are ML-KEM-768 and NONE, not a second proposal without ADDKE1. We
	// understand ADDKE1 (RFC 9370) and, running no additional exchange yet, pick NONE:
	// a classical IKE SA, a plain X25519 exchange without IKE_INTERMEDIATE, which charon
	// accepts (no "proposal selection invalid") and shows without additional KEs.
	t.Run("hybrid-optional", func(t *testing.T) {
		mark := ssw.Log.Mark()
		established(t, "optional")
		if l := ssw.Log.LinesFrom(mark, regexp.MustCompile(`peer's proposal selection invalid`)); len(l) > 0 {
			t.Errorf("strongSwan 6.1 calls our selection invalid: %q", l)
		}
	})

	// Hybrid first, classical second, as two proposals: we skip the first as a whole and
	// choose the second, which charon accepts (no "proposal selection invalid").
	t.Run("hybrid-then-classical", func(t *testing.T) { established(t, "fallback") })
}
