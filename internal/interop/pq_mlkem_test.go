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

// ML-KEM alone as the key exchange of IKE_SA_INIT (draft-ietf-ipsecme-ikev2-mlkem allows
// it): no ECDH, no IKE_INTERMEDIATE, the ML-KEM encapsulation key in the initiator's KE
// payload and the ciphertext in the responder's. Both directions with strongSwan 6.1.

// mlkemCases are the ML-KEM-only proposals, with what strongSwan 6.1 logs choosing them.
var mlkemCases = []struct {
	name     string
	p        proposalCase
	selected *regexp.Regexp
}{
	{"mlkem768", proposalCase{
		ike: "aes256gcm16-prfsha384-mlkem768", esp: "aes256gcm16",
		encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHMLKEM768.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
	}, regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ML_KEM_768(\s|$)`)},
	{"mlkem1024", proposalCase{
		ike: "aes256gcm16-prfsha384-mlkem1024", esp: "aes256gcm16",
		encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHMLKEM1024.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
	}, regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ML_KEM_1024(\s|$)`)},
}

// withX25519First is proposal p's IKE proposal with X25519 as the first key exchange
// method: the initiator then sends an X25519 KE, and a responder that takes only ML-KEM
// asks for it with INVALID_KE_PAYLOAD.
func withX25519First(p proposalCase) string {
	return strings.Replace(p.ike, "-mlkem", "-x25519-mlkem", 1)
}

// oemesh probe → strongSwan 6.1 with ML-KEM alone in IKE_SA_INIT: the IKE SA and the
// CHILD SA come up, with no IKE_INTERMEDIATE exchange. In the invalid-ke subtests we
// offer X25519 first, charon (ML-KEM only) asks for ML-KEM with INVALID_KE_PAYLOAD, and
// we retry with it.
func TestProbeToStrongSwan6MLKEM(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	for _, c := range mlkemCases {
		for _, retry := range []bool{false, true} {
			name, offer := c.name, c.p.ike
			if retry {
				name, offer = c.name+"-invalid-ke", withX25519First(c.p)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				net := netnstest.NewPair(t, "pqk")
				ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{
					Version: peers.StrongSwan6,
					Conns:   []peers.StrongSwanConn{sswConn(c.name, a, net.B4.String(), net.A4.String(), c.p)},
				})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
					"--ike", offer, "--esp", c.p.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)...)
				checkProbe(t, r, a, c.p, net.B4.String())
				wantInvalidKE := ""
				if retry {
					wantInvalidKE = c.p.dh
					if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`CURVE_25519 unacceptable, requesting `+c.p.dh)); err != nil {
						t.Errorf("strongSwan 6.1: %v", err)
					}
				}
				if got := strings.Join(r.Report.InvalidKE, ","); got != wantInvalidKE {
					t.Errorf("INVALID_KE round trips %v, want %q", r.Report.InvalidKE, wantInvalidKE)
				}
				for _, re := range []*regexp.Regexp{c.selected, regexp.MustCompile(a.sswAuthRe),
					regexp.MustCompile(`CHILD_SA host\{\d+\} established`)} {
					if _, err := ssw.Log.WaitFrom(ctx, 0, re); err != nil {
						t.Errorf("strongSwan 6.1: %v", err)
					}
				}
				if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`IKE_INTERMEDIATE`)); len(l) > 0 {
					t.Errorf("ML-KEM alone used IKE_INTERMEDIATE: %q", l)
				}
				if err := waitNoSA(ctx, ssw); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// strongSwan 6.1 initiating with ML-KEM alone to `oemesh respond --ike` with the same
// proposal: the tunnel comes up on both sides and goes down on strongSwan's Delete. In the
// invalid-ke subtests charon offers X25519 first; we ask for ML-KEM with
// INVALID_KE_PAYLOAD and charon retries with it.
func TestStrongSwan6ToRespondMLKEM(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	for _, c := range mlkemCases {
		for _, retry := range []bool{false, true} {
			name, offer := c.name, c.p
			if retry {
				name, offer.ike = c.name+"-invalid-ke", withX25519First(c.p)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				net := netnstest.NewPair(t, "pqkr")
				ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
					Version: peers.StrongSwan6,
					Conns:   []peers.StrongSwanConn{sswConn(c.name, a, net.A4.String(), net.B4.String(), offer)},
				})
				resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
					"--ike", c.p.ike, "--esp", c.p.esp}, a.flags...)...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				from, mark := resp.mark(), ssw.Log.Mark()
				if lines, err := ssw.Initiate(ctx, c.name, "host"); err != nil {
					t.Fatalf("strongSwan 6.1 initiate: %v\n%s\noemesh respond:\n%s", err, strings.Join(lines, "\n"), lastLines(resp.stderr.String(), 20))
				}
				sa, err := ssw.WaitEstablished(ctx, c.name, "host")
				if err != nil {
					t.Fatal(err)
				}
				if len(sa.AdditionalKE) != 0 {
					t.Errorf("IKE SA has additional key exchanges %v", sa.AdditionalKE)
				}
				checkResponded(t, ctx, resp, from, sa, a, c.p, net.A4.String())
				if _, err := ssw.Log.WaitFrom(ctx, mark, c.selected); err != nil {
					t.Error(err)
				}
				invalidKE := regexp.MustCompile(`peer didn't accept key exchange method CURVE_25519, it requested ` + c.p.dh)
				if l := ssw.Log.LinesFrom(mark, invalidKE); (len(l) > 0) != retry {
					t.Errorf("strongSwan 6.1 logged %q %d times; INVALID_KE_PAYLOAD expected: %v", invalidKE, len(l), retry)
				}
				if err := ssw.Terminate(ctx, c.name); err != nil {
					t.Errorf("terminate: %v", err)
				}
				if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// oemesh probe --rekey → strongSwan 6.1 with ML-KEM-768 alone: a CHILD SA rekey with
// ML-KEM-768 as PFS and an IKE SA rekey with ML-KEM-768, both in CREATE_CHILD_SA (no
// IKE_FOLLOWUP_KE: there is no additional key exchange), then the Delete of the new IKE SA.
func TestProbeRekeyStrongSwan6MLKEM(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	c := mlkemCases[0]
	esp := c.p.esp + "-mlkem768"
	net := netnstest.NewPair(t, "pqkk")
	conn := sswConn("k", a, net.B4.String(), net.A4.String(), c.p)
	conn.Children[0].ESPProposals = []string{esp}
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Version: peers.StrongSwan6, Conns: []peers.StrongSwanConn{conn}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
		"--ike", c.p.ike, "--esp", esp, "--rekey", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)...)
	checkProbe(t, r, a, c.p, net.B4.String())
	rk := r.Report.Rekeys
	if len(rk) != 2 || rk[0].What != "child" || rk[1].What != "ike" || rk[0].Error != "" || rk[1].Error != "" {
		t.Fatalf("rekeys %+v; want a CHILD SA rekey and an IKE SA rekey, both done\n%s", rk, r)
	}
	if rk[0].PFS != c.p.dh || rk[0].Child == nil || rk[0].Child.PFS != c.p.dh || rk[0].Child.SPIIn == r.Report.Child.SPIIn {
		t.Errorf("CHILD SA rekey %+v; want a new SA with PFS %s", rk[0], c.p.dh)
	}
	if rk[1].IKE == nil || rk[1].IKE.SPIi == "" {
		t.Errorf("IKE SA rekey %+v; want the new IKE SA", rk[1])
	}
	for _, re := range []string{
		`parsed CREATE_CHILD_SA request \d+ \[ N\(REKEY_SA\) SA No KE TSi TSr \]`, // CHILD SA rekey with PFS
		`CHILD_SA host\{2\} established with SPIs`,
		`IKE_SA k\[2\] rekeyed between`,
		`received DELETE for IKE_SA k\[2\]`,
	} {
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(re)); err != nil {
			t.Error(err)
		}
	}
	if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`IKE_FOLLOWUP_KE|IKE_INTERMEDIATE`)); len(l) > 0 {
		t.Errorf("ML-KEM alone used RFC 9370 exchanges: %q", l)
	}
	if err := waitNoSA(ctx, ssw); err != nil {
		t.Error(err)
	}
}
