package interop

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// Hybrid IKE SAs with strongSwan 6.1: a classical key exchange in IKE_SA_INIT, then
// ML-KEM as RFC 9370's ADDKE1 in an IKE_INTERMEDIATE exchange (RFC 9242), the keys
// updated after it, and both AUTH payloads covering the IntAuth chain. charon is the
// oracle: a wrong IntAuth or key update shows as AUTHENTICATION_FAILED or a failed
// decryption in its log.

// hybrid384 is ECP-384 in IKE_SA_INIT with ML-KEM-1024 in ADDKE1.
var hybrid384 = proposalCase{
	ike: "aes256gcm16-prfsha384-ecp384-ke1_mlkem1024", esp: "aes256gcm16",
	encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHECP384.String(),
	childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
}

// checkHybridProbe checks a probe that established a hybrid IKE SA with charon: the probe's
// exchanges (IKE_SA_INIT, IKE_INTERMEDIATE 1, IKE_AUTH 2) and charon's log from mark (the
// proposal with its KE1, the IKE_INTERMEDIATE exchange, the CHILD SA).
func checkHybridProbe(t *testing.T, ctx context.Context, r probeResult, ssw *peers.StrongSwan, mark int64, a authCase, p proposalCase, peer, kes string) {
	t.Helper()
	checkProbe(t, r, a, p, peer)
	var exch []string
	for _, x := range r.Report.Exchanges {
		exch = append(exch, x.Exchange)
	}
	if want := []string{"IKE_SA_INIT", "IKE_INTERMEDIATE", "IKE_AUTH"}; !slices.Equal(exch, want) {
		t.Errorf("probe exchanges %v, want %v", exch, want)
	}
	// The report names the key exchanges as the proposal syntax does.
	if want := map[string]string{"CURVE_25519/KE1_ML_KEM_768": "x25519+mlkem768", "ECP_384/KE1_ML_KEM_1024": "ecp384+mlkem1024"}[kes]; r.Report.KeyExchanges != want || !r.Report.QuantumResistant {
		t.Errorf("probe key exchanges %q, quantum-resistant %v; want %q, true", r.Report.KeyExchanges, r.Report.QuantumResistant, want)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/` + kes + `(\s|$)`),
		regexp.MustCompile(`parsed IKE_INTERMEDIATE request 1 \[ KE \]|parsed IKE_INTERMEDIATE request 1 \[ EF\(`),
		regexp.MustCompile(`generating IKE_INTERMEDIATE response 1 \[ KE \]`),
		regexp.MustCompile(`CHILD_SA host\{\d+\} established`),
	} {
		if _, err := ssw.Log.WaitFrom(ctx, mark, re); err != nil {
			t.Errorf("strongSwan 6.1: %v", err)
		}
	}
	if l := ssw.Log.LinesFrom(mark, regexp.MustCompile(`AUTHENTICATION_FAILED|verification of .* failed`)); len(l) > 0 {
		t.Errorf("strongSwan 6.1: %q", l)
	}
}

// oemesh probe → strongSwan 6.1 requiring ecp384-ke1_mlkem1024: ML-KEM-1024's 1,568-octet
// encapsulation key goes in IKE_INTERMEDIATE 1. In the frag subtest both sides fragment
// at 500 octets (the probe's --frag-threshold, charon's fragment_size), so the
// IKE_INTERMEDIATE messages travel as SKF fragments (RFC 7383) both ways and each side's
// IntAuth is computed over the message as if unfragmented.
func TestProbeToStrongSwan6Hybrid1024(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	for _, frag := range []bool{false, true} {
		name := "whole"
		if frag {
			name = "frag"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "pq6k"+name[:1])
			cfg := peers.StrongSwanConfig{
				Version: peers.StrongSwan6,
				Conns:   []peers.StrongSwanConn{sswConn("hybrid", a, net.B4.String(), net.A4.String(), hybrid384)},
			}
			args := []string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
				"--ike", hybrid384.ike, "--esp", hybrid384.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}
			if frag {
				cfg.Charon = []string{"fragment_size = 500"}
				args = append(args, "--frag-threshold", "500")
			}
			ssw := peers.StartStrongSwan(t, in, net.B.Name, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := runProbe(t, ctx, net.A, append(args, a.flags...)...)
			checkHybridProbe(t, ctx, r, ssw, 0, a, hybrid384, net.B4.String(), `ECP_384/KE1_ML_KEM_1024`)
			if frag {
				if r.Report.Fragments.Sent == 0 || r.Report.Fragments.Received == 0 {
					t.Errorf("fragments %+v, want some sent and received", r.Report.Fragments)
				}
				for _, re := range []*regexp.Regexp{
					regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`),
					regexp.MustCompile(`generating IKE_INTERMEDIATE response 1 \[ KE \]`),
					regexp.MustCompile(`splitting IKE message \(\d+ bytes\) into \d+ fragments`),
				} {
					if _, err := ssw.Log.WaitFrom(ctx, 0, re); err != nil {
						t.Errorf("strongSwan 6.1: %v", err)
					}
				}
			}
		})
	}
}

// strongSwan 6.1 initiating hybrid IKE SAs to `oemesh respond --ike` with the same
// proposals: x25519-ke1_mlkem768 and ecp384-ke1_mlkem1024. charon lists the IKE SA with
// its additional key exchange.
func TestStrongSwan6ToRespondHybrid(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	net := netnstest.NewPair(t, "pq6y")
	hybrid768 := classical6
	hybrid768.ike += "-ke1_mlkem768"
	// Both sides fragment at 500 octets: charon's IKE_INTERMEDIATE request (an
	// encapsulation key) and our response (a ciphertext) travel as SKF fragments.
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
		Version: peers.StrongSwan6,
		Conns: []peers.StrongSwanConn{
			sswConn("hybrid768", a, net.A4.String(), net.B4.String(), hybrid768),
			sswConn("hybrid1024", a, net.A4.String(), net.B4.String(), hybrid384),
		},
		Charon: []string{"fragment_size = 500"},
	})
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
		"--ike", hybrid768.ike + "," + hybrid384.ike, "--frag-threshold", "500"}, a.flags...)...)
	for _, tc := range []struct {
		conn string
		p    proposalCase
		ke   string
	}{
		{"hybrid768", classical6, "ML_KEM_768"},
		{"hybrid1024", hybrid384, "ML_KEM_1024"},
	} {
		t.Run(tc.conn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			from, mark := resp.mark(), ssw.Log.Mark()
			if lines, err := ssw.Initiate(ctx, tc.conn, "host"); err != nil {
				t.Fatalf("strongSwan 6.1 initiate: %v\n%s", err, lines)
			}
			sa, err := ssw.WaitEstablished(ctx, tc.conn, "host")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sa.AdditionalKE, []string{tc.ke}) {
				t.Errorf("IKE SA additional key exchanges %v, want [%s]", sa.AdditionalKE, tc.ke)
			}
			checkResponded(t, ctx, resp, from, sa, a, tc.p, net.A4.String())
			for _, re := range []*regexp.Regexp{
				regexp.MustCompile(`generating IKE_INTERMEDIATE request 1 \[ KE \]`),
				regexp.MustCompile(`splitting IKE message \(\d+ bytes\) into \d+ fragments`),
				regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`),
				regexp.MustCompile(`parsed IKE_INTERMEDIATE response 1 \[ KE \]`),
			} {
				if _, err := ssw.Log.WaitFrom(ctx, mark, re); err != nil {
					t.Errorf("strongSwan 6.1: %v", err)
				}
			}
			if err := ssw.Terminate(ctx, tc.conn); err != nil {
				t.Errorf("terminate: %v", err)
			}
			if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
				t.Error(err)
			}
		})
	}
}
