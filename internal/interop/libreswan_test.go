package interop

import (
	"context"
	"crypto/rsa"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// oeVendorID is the vendor ID Libreswan sends with NULL authentication.
const oeVendorID = "Opportunistic IPsec"

// Libreswan opportunistic encryption with NULL authentication (RFC 7619),
// as Libreswan's oe-authnull.conf sets it up, in both directions:
//   - oemesh probe --auth null → pluto answering for its clear-or-private
//     group;
//   - pluto's private-or-clear group (whack --oppohere/--oppothere, what a
//     trapped packet does) → oemesh respond --auth null.
//
// On this kernel pluto cannot install the CHILD SA it negotiated. As
// responder it then answers IKE_AUTH with TS_UNACCEPTABLE; as initiator it
// deletes its IKE SA. The tests accept that only when pluto's log shows the
// kernel's ENOSYS for exactly this negotiation (peers.ChildKernelNoESP); on
// a kernel with ESP they want the CHILD SA established.
func TestLibreswanNullOE(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	t.Run("probe-to-libreswan", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "iln")
		lsw := peers.StartLibreswan(t, in, net.B.Name, peers.LibreswanConfig{
			Conns:    peers.OEConns(net.B4.String()),
			Policies: map[string][]string{"clear-or-private": {"192.0.2.0/24"}},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mark := lsw.Log.Mark()
		r := runProbe(t, ctx, net.A, net.B4.String(), "--auth", "null", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s")
		defer func() {
			if t.Failed() {
				t.Logf("probe output:\n%s", r)
			}
		}()
		if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
			t.Fatalf("pluto did not establish the IKE SA: %v", err)
		}
		cr, err := lsw.WaitChild(ctx, mark, net.A4.String())
		if err != nil {
			t.Fatal(err)
		}
		rep := r.Report
		logProbe(t, r)
		t.Logf("pluto's CHILD SA: %v %v", cr.Outcome, cr.Lines)
		switch cr.Outcome {
		case peers.ChildKernelNoESP:
			// pluto agreed to the CHILD SA, failed to add it, and said
			// TS_UNACCEPTABLE: the probe must report exactly that.
			if r.Exit != 2 || rep.Notify != "TS_UNACCEPTABLE" || rep.Established {
				t.Errorf("probe: exit %d notify %q established %v; want exit 2 with the peer's TS_UNACCEPTABLE", r.Exit, rep.Notify, rep.Established)
			}
		case peers.ChildEstablished:
			if r.Exit != 0 || !rep.Established {
				t.Errorf("pluto established the CHILD SA but the probe says exit %d, established %v", r.Exit, rep.Established)
			}
		default:
			t.Fatalf("pluto's CHILD SA: %v %v; want negotiated", cr.Outcome, cr.Lines)
		}
		if !rep.IKEEstablished || !rep.PeerAuth.Verified || rep.PeerAuth.Method != ike.AuthNull.String() || rep.PeerAuth.ID != ike.NullIdentity().String() {
			t.Errorf("probe: IKE SA %v, peer auth %+v; want NULL auth from ID_NULL, verified", rep.IKEEstablished, rep.PeerAuth)
		}
		if !slices.Contains(rep.VendorIDs, oeVendorID) {
			t.Errorf("probe: vendor IDs %q, want %q", rep.VendorIDs, oeVendorID)
		}
		if rep.IKE == nil {
			t.Errorf("probe: no IKE transforms reported")
		}
		// Libreswan answers our X25519 KE with INVALID_KE_PAYLOAD asking for
		// MODP-2048 (its first group); each refusal costs one IKE_SA_INIT.
		if n := countExchanges(rep, "IKE_SA_INIT"); n != 1+len(rep.InvalidKE) {
			t.Errorf("probe: %d IKE_SA_INIT exchanges with INVALID_KE %v", n, rep.InvalidKE)
		}
		if len(rep.InvalidKE) > 0 && (rep.IKE == nil || rep.IKE.DH != rep.InvalidKE[len(rep.InvalidKE)-1]) {
			t.Errorf("probe: the peer asked for %v but the IKE SA uses %+v", rep.InvalidKE, rep.IKE)
		}
	})
	for _, trigger := range []string{"whack", "packet"} {
		t.Run("libreswan-to-respond-by-"+trigger, func(t *testing.T) {
			t.Parallel()
			testLibreswanOEToRespond(t, in, trigger)
		})
	}
}

// testLibreswanOEToRespond: pluto's private-or-clear group covers oemesh
// respond's address; trigger "whack" simulates the acquire (whack
// --oppohere/--oppothere), "packet" sends a real one into pluto's trap
// policy, so the kernel's ACQUIRE starts IKE as it would in production.
func testLibreswanOEToRespond(t *testing.T, in *peers.Install, trigger string) {
	net := netnstest.NewPair(t, "ilr")
	lsw := peers.StartLibreswan(t, in, net.A.Name, peers.LibreswanConfig{
		Conns:    peers.OEConns(net.A4.String()),
		Policies: map[string][]string{"private-or-clear": {"192.0.2.0/24"}},
	})
	resp := startRespond(t, net.B, "--listen", net.B4.String(), "--auth", "null")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mark := lsw.Log.Mark()
	if trigger == "whack" {
		out, err := lsw.Oppo(ctx, net.A4.String(), net.B4.String())
		t.Logf("whack --oppohere %s --oppothere %s: %v\n%s", net.A4, net.B4, err, out)
	} else {
		// The ping is held by the trap and then dropped (no ESP here):
		// only the ACQUIRE it causes matters.
		_ = net.A.Command(ctx, "ping", "-n", "-c", "1", "-W", "1", net.B4.String()).Run()
		if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`initiate on-demand for packet `+net.A4.String()+`:\S+->`+net.B4.String())); err != nil {
			t.Fatalf("the packet did not reach pluto's trap: %v", err)
		}
	}
	if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`initiator established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
		t.Fatalf("pluto did not establish the IKE SA: %v", err)
	}
	ev, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.IKE == nil || ev.Child == nil || ev.IKE.PeerAuth != "null" || ev.IKE.PeerID != ike.NullIdentity().String() {
		t.Fatalf("respond: %s; want a NULL-authenticated ID_NULL peer with a CHILD SA", ev.Line)
	}
	cr, err := lsw.WaitChild(ctx, mark, net.B4.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("respond: %s\npluto's CHILD SA: %v %v", ev.Line, cr.Outcome, cr.Lines)
	switch cr.Outcome {
	case peers.ChildKernelNoESP:
		// pluto's first add is its outbound SA: the SPI we allocated.
		if !sameSPI(cr.SPI, ev.Child.SPIIn) || cr.SADst != net.B4.String() {
			t.Errorf("pluto added SPI %s@%s; respond's inbound SPI is %s", cr.SPI, cr.SADst, ev.Child.SPIIn)
		}
	case peers.ChildEstablished:
	default:
		t.Errorf("pluto's CHILD SA: %v %v; want negotiated", cr.Outcome, cr.Lines)
	}
}

// Libreswan initiates with its RSA host key (authby=rsasig, IKEv2) to
// oemesh respond, which signs with its own RSA key and verifies pluto's;
// IKE_AUTH is fragmented in both directions.
func TestLibreswanRSAInitiatorToRespond(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	net := netnstest.NewPair(t, "ilk")
	lsw := peers.StartLibreswan(t, in, net.A.Name, peers.LibreswanConfig{HostKeyBits: 3072, PlutoDebug: "base"})
	dir := t.TempDir()
	ours := mustRSA(t, 2048)
	keyFile, _ := writeKey(t, dir, "oemesh", ours)
	lswPub := writePub(t, dir, "pluto", lsw.HostKey.PublicKey)
	resp := startRespond(t, net.B, "--listen", net.B4.String(), "--auth", "key", "--key", keyFile,
		"--id", net.B4.String(), "--peer-id", net.A4.String(), "--peer-key", lswPub, "--frag-threshold", "300")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lsw.AddConn(ctx, peers.LibreswanConn{
		Name: "to-oemesh", Left: net.A4.String(), Right: net.B4.String(), LeftID: net.A4.String(), RightID: net.B4.String(),
		AuthBy: "rsasig", LeftHostKey: true, RightRSASigKey: peers.RSASigKey(ours.Public().(*rsa.PublicKey)),
		IKEv2: "insist", Type: "tunnel", Auto: "add",
	}); err != nil {
		t.Fatal(err)
	}
	mark := lsw.Log.Mark()
	out, err := lsw.Up(ctx, "to-oemesh")
	t.Logf("whack --initiate: %v\n%s", err, out)
	if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`initiator established IKE SA; authenticated peer '2048-bit RSA`)); err != nil {
		t.Fatalf("pluto did not authenticate oemesh's RSA signature: %v", err)
	}
	ev, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.IKE == nil || ev.Child == nil || ev.IKE.PeerAuth != "pubkey" || ev.IKE.PeerID != net.A4.String() {
		t.Fatalf("respond: %s; want pluto (%s) authenticated by its key, with a CHILD SA", ev.Line, net.A4)
	}
	// Fragments both ways (pluto's debug log shows them): pluto's IKE_AUTH
	// request with an RSA-3072 signature exceeds its 576-octet threshold,
	// and respond's answer exceeds --frag-threshold 300.
	if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`\*\*\*emit IKEv2 Encrypted Fragment:`)); err != nil {
		t.Errorf("pluto did not fragment its IKE_AUTH request: %v", err)
	}
	if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`received IKE encrypted fragment number '\d+', total number '[2-9]', next payload '36'`)); err != nil {
		t.Errorf("pluto did not receive respond's IKE_AUTH response (IDr first) in fragments: %v", err)
	}
	cr, err := lsw.WaitChild(ctx, mark, net.B4.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("respond: %s\npluto's CHILD SA: %v %v", ev.Line, cr.Outcome, cr.Lines)
	switch cr.Outcome {
	case peers.ChildKernelNoESP:
		if !sameSPI(cr.SPI, ev.Child.SPIIn) {
			t.Errorf("pluto added SPI %s; respond's inbound SPI is %s", cr.SPI, ev.Child.SPIIn)
		}
	case peers.ChildEstablished:
	default:
		t.Errorf("pluto's CHILD SA: %v %v; want negotiated", cr.Outcome, cr.Lines)
	}
}

// oemesh probe → pluto signing with its RSA host key (RSASSA-PSS, RFC
// 7427), the probe verifying it with --peer-key:
//   - "null-initiator": the probe authenticates with NULL, as in
//     Libreswan's DNSSEC OE setup (oe-dnssec-server.conf, with the key
//     given instead of looked up);
//   - "rsa-initiator": the probe signs with its own RSA key too.
func TestProbeToLibreswanRSAResponder(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, mode := range []string{"null-initiator", "rsa-initiator"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "ilp")
			lsw := peers.StartLibreswan(t, in, net.B.Name, peers.LibreswanConfig{HostKeyBits: 3072})
			dir := t.TempDir()
			lswPub := writePub(t, dir, "pluto", lsw.HostKey.PublicKey)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn := peers.LibreswanConn{
				Name: "from-oemesh", Left: net.B4.String(), LeftID: net.B4.String(), LeftAuth: "rsasig", LeftHostKey: true,
				Right: net.A4.String(), IKEv2: "insist", Type: "tunnel", Auto: "add",
			}
			args := []string{net.B4.String(), "--peer-id", net.B4.String(), "--peer-auth", "key", "--peer-key", lswPub,
				"--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}
			if mode == "null-initiator" {
				conn.RightID, conn.RightAuth = "%null", "null"
				args = append(args, "--auth", "null")
			} else {
				ours := mustRSA(t, 2048)
				keyFile, _ := writeKey(t, dir, "oemesh", ours)
				conn.RightID, conn.RightAuth, conn.RightRSASigKey = net.A4.String(), "rsasig", peers.RSASigKey(ours.Public().(*rsa.PublicKey))
				args = append(args, "--auth", "key", "--key", keyFile, "--id", net.A4.String())
			}
			if err := lsw.AddConn(ctx, conn); err != nil {
				t.Fatal(err)
			}
			mark := lsw.Log.Mark()
			r := runProbe(t, ctx, net.A, args...)
			logProbe(t, r)
			rep := r.Report
			if !rep.IKEEstablished || !rep.PeerAuth.Verified || rep.PeerAuth.Method != ike.AuthDigitalSignature.String() ||
				!strings.Contains(strings.ToLower(rep.PeerAuth.Scheme), "pss") || rep.PeerAuth.ID != net.B4.String() {
				t.Errorf("probe: peer auth %+v; want pluto's RSASSA-PSS digital signature from %s, verified\n%s", rep.PeerAuth, net.B4, r)
			}
			// pluto fragments IKE messages above a 576-octet datagram; its
			// IKE_AUTH with a 3072-bit signature is larger.
			if rep.Fragments.Received < 2 {
				t.Errorf("probe received %d fragments; pluto's IKE_AUTH response (RSA-3072) comes in at least 2", rep.Fragments.Received)
			}
			wantPeer := `authenticated peer using authby=null and ID_NULL`
			if mode == "rsa-initiator" {
				wantPeer = `authenticated peer '2048-bit RSA`
			}
			if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`responder established IKE SA; `+wantPeer)); err != nil {
				t.Fatalf("pluto did not authenticate the probe: %v", err)
			}
			cr, err := lsw.WaitChild(ctx, mark, net.A4.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("pluto's CHILD SA: %v %v", cr.Outcome, cr.Lines)
			switch cr.Outcome {
			case peers.ChildKernelNoESP:
				if r.Exit != 2 || rep.Notify != "TS_UNACCEPTABLE" {
					t.Errorf("probe exit %d notify %q; want 2 with pluto's TS_UNACCEPTABLE", r.Exit, rep.Notify)
				}
			case peers.ChildEstablished:
				if r.Exit != 0 {
					t.Errorf("probe exit %d though pluto established the CHILD SA", r.Exit)
				}
			default:
				t.Errorf("pluto's CHILD SA: %v %v; want negotiated", cr.Outcome, cr.Lines)
			}
		})
	}
}
