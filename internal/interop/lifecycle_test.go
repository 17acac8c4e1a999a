package interop

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// After the handshake, with strongSwan initiating to oemesh respond: DPD
// (strongSwan's empty INFORMATIONALs) is answered, a CHILD SA rekey (with
// PFS) and an IKE SA rekey (CREATE_CHILD_SA) complete, and the SAs keep
// working under their new SPIs.
func TestStrongSwanRekeyAndDPD(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	var pskCase authCase
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "psk" {
			pskCase = a
		}
	}
	p := proposalCases[0]
	net := netnstest.NewPair(t, "irk")
	conn := sswConn("r", pskCase, net.A4.String(), net.B4.String(), p)
	conn.DPDDelay = time.Second
	// PFS on CHILD SA rekeys: strongSwan adds a KE to CREATE_CHILD_SA.
	conn.Children[0].ESPProposals = []string{p.esp + "-x25519"}
	ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn}})
	resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
		// accept the PFS group strongSwan proposes for rekeys
		"--esp", p.esp + "-x25519," + p.esp}, pskCase.flags...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if lines, err := ssw.Initiate(ctx, "r", "host"); err != nil {
		t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
	}
	sa, err := ssw.WaitEstablished(ctx, "r", "host")
	if err != nil {
		t.Fatal(err)
	}
	first, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
	if err != nil {
		t.Fatal(err)
	}
	oldChild, _ := sa.Child("host")

	// DPD: strongSwan probes an idle peer every second and gets answers.
	mark := ssw.Log.Mark()
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`sending DPD request`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed INFORMATIONAL response \d+ \[ \]`)); err != nil {
		t.Fatalf("no answer to strongSwan's DPD: %v", err)
	}

	// CHILD SA rekey.
	from := resp.mark()
	if out, err := ssw.Swanctl(ctx, "--rekey", "--child", "host"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ev, err := resp.waitEvent(ctx, from, "child_up for the rekeyed CHILD SA", eventIs("child_up"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Child.SPIIn == first.Child.SPIIn {
		t.Errorf("rekeyed CHILD SA has the old inbound SPI %s", ev.Child.SPIIn)
	}
	if _, err := resp.waitEvent(ctx, from, "child_down for the replaced CHILD SA", func(e respondEvent) bool {
		return e.Event == "child_down" && e.Child != nil && e.Child.SPIIn == first.Child.SPIIn
	}); err != nil {
		t.Error(err)
	}
	sa, err = ssw.WaitSA(ctx, func(s peers.IKESA) bool {
		c, ok := s.Child("host")
		return s.Established() && ok && c.State == "INSTALLED" && c.SPIIn != oldChild.SPIIn && len(s.Children) == 1
	})
	if err != nil {
		t.Fatalf("strongSwan after the CHILD SA rekey: %v", err)
	}
	newChild, _ := sa.Child("host")
	if !sameSPI(newChild.SPIIn, ev.Child.SPIOut) || !sameSPI(newChild.SPIOut, ev.Child.SPIIn) {
		t.Errorf("rekeyed CHILD SPIs don't pair: respond in/out %s/%s, strongSwan in/out %s/%s", ev.Child.SPIIn, ev.Child.SPIOut, newChild.SPIIn, newChild.SPIOut)
	}
	if newChild.DHGroup != "CURVE_25519" {
		t.Errorf("CHILD SA rekey PFS group %q, want CURVE_25519", newChild.DHGroup)
	}

	// IKE SA rekey: new SPIs, the CHILD SA moves over.
	oldI, oldR := sa.InitiatorSPI, sa.ResponderSPI
	if out, err := ssw.Swanctl(ctx, "--rekey", "--ike", "r"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sa, err = ssw.WaitSA(ctx, func(s peers.IKESA) bool {
		c, ok := s.Child("host")
		return s.Established() && s.InitiatorSPI != oldI && s.ResponderSPI != oldR && ok && c.State == "INSTALLED"
	})
	if err != nil {
		t.Fatalf("strongSwan after the IKE SA rekey: %v", err)
	}
	// The rekeyed IKE SA still works: the next DPD exchange is answered.
	mark = ssw.Log.Mark()
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed INFORMATIONAL response \d+ \[ \]`)); err != nil {
		t.Fatalf("no DPD answer on the rekeyed IKE SA: %v", err)
	}
	if sas, err := ssw.ListSAs(ctx); err != nil || len(sas) != 1 {
		t.Errorf("strongSwan holds %d IKE SAs after the rekey (%v), want 1", len(sas), err)
	}
	// A Delete on the new IKE SA reaches respond.
	from = resp.mark()
	if err := ssw.Terminate(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", func(e respondEvent) bool {
		return e.Event == "ike_down" && e.IKE != nil && strings.EqualFold(e.IKE.SPIi, sa.InitiatorSPI)
	}); err != nil {
		t.Error(err)
	}
}

// oemesh probe --rekey → strongSwan: our initiator side of CREATE_CHILD_SA,
// a CHILD SA rekey with PFS and an IKE SA rekey, then the Delete of the new
// IKE SA.
func TestProbeRekeyStrongSwan(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	var edCase authCase
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "ed25519" {
			edCase = a
		}
	}
	p := proposalCases[0]
	net := netnstest.NewPair(t, "ipk")
	conn := sswConn("k", edCase, net.B4.String(), net.A4.String(), p)
	conn.Children[0].ESPProposals = []string{p.esp + "-x25519"}
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{conn}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
		"--ike", p.ike, "--esp", p.esp + "-x25519", "--rekey", "--timeout", "5s"}, edCase.flags...)...)
	checkProbe(t, r, edCase, p, net.B4.String())
	rk := r.Report.Rekeys
	if len(rk) != 2 || rk[0].What != "child" || rk[1].What != "ike" || rk[0].Error != "" || rk[1].Error != "" {
		t.Fatalf("rekeys %+v; want a CHILD SA rekey and an IKE SA rekey, both done\n%s", rk, r)
	}
	if rk[0].PFS != "CURVE25519" || rk[0].Child == nil || rk[0].Child.SPIIn == r.Report.Child.SPIIn || rk[0].Child.PFS != "CURVE25519" {
		t.Errorf("CHILD SA rekey %+v; want a new SA with PFS CURVE25519", rk[0])
	}
	if rk[1].IKE == nil || rk[1].IKE.SPIi == "" {
		t.Errorf("IKE SA rekey %+v; want the new IKE SA", rk[1])
	}
	// strongSwan's view: a second CHILD SA (PFS), the IKE SA rekeyed to
	// the SPIs the probe reports, and the Delete of that new IKE SA.
	if lines := ssw.Log.LinesFrom(0, regexp.MustCompile(`CHILD_SA host\{\d+\} established with SPIs`)); len(lines) < 2 {
		t.Errorf("strongSwan established %d CHILD SAs, want 2 (the rekey): %q", len(lines), lines)
	}
	for _, re := range []string{
		`parsed CREATE_CHILD_SA request \d+ \[ N\(REKEY_SA\) SA No KE TSi TSr \]`, // CHILD SA rekey with PFS
		`IKE_SA k\[2\] rekeyed between`,
		`received DELETE for IKE_SA k\[2\]`, // the probe deletes the new IKE SA
	} {
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(re)); err != nil {
			t.Error(err)
		}
	}
	if err := waitNoSA(ctx, ssw); err != nil {
		t.Error(err)
	}
}
