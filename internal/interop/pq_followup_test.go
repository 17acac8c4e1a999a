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

// Rekeys with RFC 9370's additional key exchanges (IKE_FOLLOWUP_KE, §2.2.4) with
// strongSwan 6.1, both directions: a CHILD SA rekey with esp_proposals =
// aes256gcm16-x25519-ke1_mlkem768 and an IKE SA rekey with proposals =
// aes256gcm16-prfsha384-x25519-ke1_mlkem768, charon listing ML_KEM_768 after each.

const (
	followupIKE = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
	followupESP = "aes256gcm16-x25519-ke1_mlkem768"
)

var followupCase = proposalCase{
	ike: followupIKE, esp: followupESP,
	encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHCurve25519.String(),
	childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
}

// oemesh probe --rekey → strongSwan 6.1: our CHILD SA rekey and IKE SA rekey each run
// one IKE_FOLLOWUP_KE with ML-KEM-768 after CREATE_CHILD_SA; charon answers both and
// logs the rekeyed SAs.
func TestProbeRekeyStrongSwan6FollowupKE(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	net := netnstest.NewPair(t, "pqfu")
	conn := sswConn("k", a, net.B4.String(), net.A4.String(), followupCase)
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Version: peers.StrongSwan6, Conns: []peers.StrongSwanConn{conn}})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
		"--ike", followupIKE, "--esp", followupESP, "--rekey", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)...)
	checkProbe(t, r, a, followupCase, net.B4.String())
	rk := r.Report.Rekeys
	if len(rk) != 2 || rk[0].What != "child" || rk[1].What != "ike" || rk[0].Error != "" || rk[1].Error != "" {
		t.Fatalf("rekeys %+v; want a CHILD SA rekey and an IKE SA rekey, both done\n%s", rk, r)
	}
	for _, re := range []string{
		`parsed CREATE_CHILD_SA request \d+ \[ N\(REKEY_SA\) SA No KE TSi TSr \]`,
		`generating CREATE_CHILD_SA response \d+ \[ SA No KE TSi TSr N\(ADD_KE\) \]`,
		`parsed IKE_FOLLOWUP_KE request \d+ \[ (KE N\(ADD_KE\)|EF\()`,
		`generating IKE_FOLLOWUP_KE response \d+ \[ KE \]`,
		`CHILD_SA host\{2\} established with SPIs`,
		`generating CREATE_CHILD_SA response \d+ \[ SA No KE N\(ADD_KE\) \]`,
		`IKE_SA k\[2\] rekeyed between`,
	} {
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(re)); err != nil {
			t.Error(err)
		}
	}
	if n := len(ssw.Log.LinesFrom(0, regexp.MustCompile(`parsed IKE_FOLLOWUP_KE request`))); n < 2 {
		t.Errorf("strongSwan 6.1 parsed %d IKE_FOLLOWUP_KE requests, want 2 (CHILD SA and IKE SA rekey)", n)
	}
	if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`STATE_NOT_FOUND|INVALID_SYNTAX|NO_PROP`)); len(l) > 0 {
		t.Errorf("strongSwan 6.1: %q", l)
	}
	if err := waitNoSA(ctx, ssw); err != nil {
		t.Error(err)
	}
}

// strongSwan 6.1 → oemesh respond: charon rekeys the CHILD SA, then the IKE SA
// (vici rekey), each with an IKE_FOLLOWUP_KE that respond answers; charon then lists
// ML_KEM_768 for the new CHILD SA and the new IKE SA, and the new IKE SA is alive
// (charon's terminate reaches respond).
func TestStrongSwan6RekeyFollowupKEToRespond(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	net := netnstest.NewPair(t, "pqfr")
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{
		Version: peers.StrongSwan6,
		Conns:   []peers.StrongSwanConn{sswConn("fu", a, net.A4.String(), net.B4.String(), followupCase)},
	})
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
		"--ike", followupIKE, "--esp", followupESP}, a.flags...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	from := resp.mark()
	if lines, err := ssw.Initiate(ctx, "fu", "host"); err != nil {
		t.Fatalf("strongSwan 6.1 initiate: %v\n%s", err, lines)
	}
	sa, err := ssw.WaitEstablished(ctx, "fu", "host")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := sa.Child("host")

	mark := ssw.Log.Mark()
	if err := ssw.RekeyChild(ctx, "host"); err != nil {
		t.Fatal(err)
	}
	sa, err = ssw.WaitSA(ctx, func(sa peers.IKESA) bool {
		c, ok := sa.Child("host")
		return sa.Name == "fu" && ok && c.SPIIn != old.SPIIn && c.State == "INSTALLED"
	})
	if err != nil {
		t.Fatalf("CHILD SA rekey: %v\n%s", err, resp.describe())
	}
	if c, _ := sa.Child("host"); !slices.Equal(c.AdditionalKE, []string{"ML_KEM_768"}) || c.DHGroup != "CURVE_25519" {
		t.Errorf("rekeyed CHILD SA: PFS %s, additional key exchanges %v; want CURVE_25519 and [ML_KEM_768]", c.DHGroup, c.AdditionalKE)
	}
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed IKE_FOLLOWUP_KE response \d+ \[ (KE|EF\()`)); err != nil {
		t.Error(err)
	}

	mark = ssw.Log.Mark()
	oldSPI := sa.InitiatorSPI
	if err := ssw.RekeyIKE(ctx, "fu"); err != nil {
		t.Fatal(err)
	}
	sa, err = ssw.WaitSA(ctx, func(sa peers.IKESA) bool {
		return sa.Name == "fu" && sa.Established() && sa.InitiatorSPI != oldSPI
	})
	if err != nil {
		t.Fatalf("IKE SA rekey: %v\n%s", err, resp.describe())
	}
	if !slices.Equal(sa.AdditionalKE, []string{"ML_KEM_768"}) {
		t.Errorf("rekeyed IKE SA: additional key exchanges %v, want [ML_KEM_768]", sa.AdditionalKE)
	}
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed IKE_FOLLOWUP_KE response \d+ \[ (KE|EF\()`)); err != nil {
		t.Error(err)
	}
	// Terminate only once charon has deleted the old IKE SA: "fu" names both until then.
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed INFORMATIONAL response \d+ \[ \]`)); err != nil {
		t.Error(err)
	}
	for {
		sas, err := ssw.ListSAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(sas, func(sa peers.IKESA) bool { return sa.InitiatorSPI == oldSPI }) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("charon keeps the old IKE SA %s", oldSPI)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := ssw.Terminate(ctx, "fu"); err != nil {
		t.Errorf("terminate over the rekeyed IKE SA: %v", err)
	}
	if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
		t.Error(err)
	}
}

// oemesh probe --rekey → strongSwan 6.1 configured classically (x25519 for IKE and
// for ESP PFS, no ADDKE): the probe offers ML-KEM-768 or NONE for IKE and requires
// ML-KEM-768 for ESP. The IKE SA comes up classically (charon picks NONE); the CHILD
// SA rekey gets NO_PROPOSAL_CHOSEN and falls back to X25519 alone, as the CHILD SA was
// negotiated; the IKE SA rekey gets NONE again. No IKE_FOLLOWUP_KE runs.
func TestProbeRekeyStrongSwan6FollowupKEFallback(t *testing.T) {
	in := peers.RequireStrongSwan6(t)
	oemesh(t)
	t.Parallel()
	a := ed25519Case(t)
	net := netnstest.NewPair(t, "pqfb")
	classical := followupCase
	classical.ike, classical.esp = "aes256gcm16-prfsha384-x25519", "aes256gcm16-x25519"
	conn := sswConn("k", a, net.B4.String(), net.A4.String(), classical)
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Version: peers.StrongSwan6, Conns: []peers.StrongSwanConn{conn}})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
		"--ike", followupIKE + "-ke1_none", "--esp", followupESP, "--rekey", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)...)
	checkProbe(t, r, a, classical, net.B4.String())
	rk := r.Report.Rekeys
	if len(rk) != 2 || rk[0].What != "child" || rk[1].What != "ike" || rk[0].Error != "" || rk[1].Error != "" {
		t.Fatalf("rekeys %+v; want a CHILD SA rekey and an IKE SA rekey, both done\n%s", rk, r)
	}
	if rk[0].Child == nil || rk[0].Child.PFS != ike.DHCurve25519.String() {
		t.Errorf("CHILD SA rekey %+v; want a new SA with PFS X25519", rk[0])
	}
	for _, re := range []string{
		`no acceptable ADDITIONAL_KEY_EXCHANGE_1 found`,
		`generating CREATE_CHILD_SA response \d+ \[ N\(NO_PROP\) \]`,
		`CHILD_SA host\{2\} established with SPIs`,
		`IKE_SA k\[2\] rekeyed between`,
	} {
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(re)); err != nil {
			t.Error(err)
		}
	}
	if l := ssw.Log.LinesFrom(0, regexp.MustCompile(`IKE_FOLLOWUP_KE|IKE_INTERMEDIATE`)); len(l) > 0 {
		t.Errorf("a classical peer ran RFC 9370 exchanges: %q", l)
	}
	if err := waitNoSA(ctx, ssw); err != nil {
		t.Error(err)
	}
}
