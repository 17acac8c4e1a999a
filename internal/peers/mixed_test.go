package peers

import (
	"context"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// Libreswan initiates with its RSA host key (authby=rsasig, IKEv2 only) to strongSwan, which
// answers signing with a raw RSA key: the scenario an oemesh responder will face. strongSwan
// (kernel-libipsec) installs its CHILD SA; Libreswan's own install then fails on this kernel,
// which ChildResult reports as ChildKernelNoESP. pluto then deletes its IKE SA without
// notifying the peer ("CHILD SA encountered fatal error: INVALID_SYNTAX", "deleting state
// ... NOT sending notification") and schedules a revival, so its IKE SA is only seen in its
// log, not for long in --showstates.
func TestLibreswanRSAInitiatorToStrongSwan(t *testing.T) {
	in := Require(t)
	t.Parallel()
	net := netnstest.NewPair(t, "pm")
	lsw := StartLibreswan(t, in, net.A.Name, LibreswanConfig{HostKeyBits: 3072})
	sswKey := mustRSA(t)
	ssw := StartStrongSwan(t, in, net.B.Name, StrongSwanConfig{Conns: []StrongSwanConn{{
		Name: "lsw", LocalAddrs: []string{net.B4.String()}, RemoteAddrs: []string{net.A4.String()},
		Proposals: []string{"aes256gcm16-prfsha512-modp2048"},
		Local:     StrongSwanAuth{Method: AuthPubkey, ID: net.B4.String(), Key: sswKey},
		Remote:    StrongSwanAuth{Method: AuthPubkey, ID: net.A4.String(), PublicKey: lsw.HostKey.PublicKey},
		Children:  []StrongSwanChild{{Name: "host", ESPProposals: []string{"aes256gcm16"}}},
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lsw.AddConn(ctx, LibreswanConn{
		Name: "to-ssw", Left: net.A4.String(), Right: net.B4.String(), LeftID: net.A4.String(), RightID: net.B4.String(),
		AuthBy: "rsasig", LeftHostKey: true, RightRSASigKey: RSASigKey(sswKey.Public().(*rsa.PublicKey)),
		IKEv2: "insist", Type: "tunnel", Auto: "add",
	}); err != nil {
		t.Fatal(err)
	}
	mark := lsw.Log.Mark()
	out, err := lsw.Up(ctx, "to-ssw")
	t.Logf("whack --initiate: %v\n%s", err, out)
	sa, err := ssw.WaitEstablished(ctx, "lsw", "host")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Initiator || sa.RemoteID != net.A4.String() || sa.DHGroup != "MODP_2048" {
		t.Errorf("strongSwan's IKE SA: initiator %v remote id %q DH %s; want responder, %v, MODP_2048", sa.Initiator, sa.RemoteID, sa.DHGroup, net.A4)
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexpFor(`authentication of .`+net.A4.String()+`. with RSA\S* successful`)); err != nil {
		t.Fatal(err)
	}
	if _, err := lsw.Log.WaitFrom(ctx, mark, regexpFor(`initiator established IKE SA; authenticated peer`)); err != nil {
		t.Fatal(err)
	}
	r, err := lsw.WaitChild(ctx, mark, net.B4.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != ChildKernelNoESP && r.Outcome != ChildEstablished {
		t.Errorf("Libreswan's CHILD SA: %v %v; want negotiated (kernel without ESP) or established", r.Outcome, r.Lines)
	}
	if r.Outcome == ChildKernelNoESP {
		// pluto revives the conn after dropping its IKE SA, so strongSwan may hold several
		// IKE SAs by now: the SA pluto failed to add must be one of strongSwan's inbound ones.
		sas, err := ssw.ListSAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var in []string
		for _, sa := range sas {
			for _, c := range sa.Children {
				in = append(in, c.SPIIn)
			}
		}
		found := false
		for _, spi := range in {
			found = found || strings.EqualFold(spi, r.SPI)
		}
		if !found || r.SADst != net.B4.String() {
			t.Errorf("Libreswan tried to add its outbound SA %s@%s; strongSwan's inbound SPIs are %v", r.SPI, r.SADst, in)
		}
	}
}
