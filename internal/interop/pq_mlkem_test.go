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
