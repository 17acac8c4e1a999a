package interop

import (
	"context"
	"crypto"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// proposalCase is one IKE proposal (strongSwan syntax) with a matching ESP
// proposal, and what the engine must report having negotiated.
type proposalCase struct {
	ike, esp          string
	encr, prf, dh     string // IKE SA, as ike's String methods print them
	integ             string // "" for AEADs
	childEncr, childI string
}

var proposalCases = []proposalCase{
	{
		ike: "aes128gcm16-prfsha256-x25519", esp: "aes128gcm16",
		encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 128}.String(), prf: ike.PRFHMACSHA2_256.String(), dh: ike.DHCurve25519.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 128}.String(),
	},
	{
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16",
		encr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_384.String(), dh: ike.DHECP384.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrAESGCM16, KeyBits: 256}.String(),
	},
	{
		ike: "chacha20poly1305-prfsha256-x25519", esp: "chacha20poly1305",
		encr: ike.EncrAlg{ID: ike.EncrChaCha20Poly1305}.String(), prf: ike.PRFHMACSHA2_256.String(), dh: ike.DHCurve25519.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrChaCha20Poly1305}.String(),
	},
	{
		ike: "aes256-sha256-modp2048", esp: "aes256-sha256",
		encr: ike.EncrAlg{ID: ike.EncrAESCBC, KeyBits: 256}.String(), prf: ike.PRFHMACSHA2_256.String(), dh: ike.DHMODP2048.String(),
		integ:     ike.IntegHMACSHA2_256_128.String(),
		childEncr: ike.EncrAlg{ID: ike.EncrAESCBC, KeyBits: 256}.String(), childI: ike.IntegHMACSHA2_256_128.String(),
	},
}

// authCase is how both sides authenticate: strongSwan's settings and
// oemesh's flags.
type authCase struct {
	name string
	// strongSwan's local/remote auth for a conn whose peer is oemesh.
	local, remote peers.StrongSwanAuth
	psk           string
	// oemesh's flags (without addresses and IDs).
	flags []string
	// the AUTH method oemesh must see strongSwan use, as DescribeAuth
	// names it, and strongSwan's log line for oemesh's AUTH.
	peerMethod string
	sswAuthRe  string
}

// authCases makes the PSK, Ed25519 and RSA raw-key cases, with key files in
// dir. strongSwan's key and oemesh's key are each the same kind.
func authCases(t *testing.T, dir string) []authCase {
	const psk = "oemesh-interop-psk-0123456789"
	var cases []authCase
	cases = append(cases, authCase{
		name: "psk", local: peers.StrongSwanAuth{Method: peers.AuthPSK}, remote: peers.StrongSwanAuth{Method: peers.AuthPSK}, psk: psk,
		flags:      []string{"--auth", "psk", "--psk", psk},
		peerMethod: ike.AuthSharedKey.String(), sswAuthRe: `authentication of '[^']+' with pre-shared key successful`,
	})
	for _, k := range []struct {
		name  string
		mk    func() (ours, theirs crypto.Signer)
		sswRe string
	}{
		{"ed25519", func() (crypto.Signer, crypto.Signer) { return mustEd25519(t), mustEd25519(t) }, `authentication of '[^']+' with ED25519 successful`},
		{"rsa", func() (crypto.Signer, crypto.Signer) { return mustRSA(t, 2048), mustRSA(t, 2048) }, `authentication of '[^']+' with RSA\S* successful`},
	} {
		ours, theirs := k.mk()
		keyFile, _ := writeKey(t, dir, "oemesh-"+k.name, ours)
		theirPub := writePub(t, dir, "ssw-"+k.name, theirs.Public())
		cases = append(cases, authCase{
			name:   k.name,
			local:  peers.StrongSwanAuth{Method: peers.AuthPubkey, Key: theirs},
			remote: peers.StrongSwanAuth{Method: peers.AuthPubkey, PublicKey: ours.Public()},
			flags:  []string{"--auth", "key", "--key", keyFile, "--peer-key", theirPub},
			// strongSwan signs with RFC 7427 digital signatures.
			peerMethod: ike.AuthDigitalSignature.String(), sswAuthRe: k.sswRe,
		})
	}
	return cases
}

// sswConn is the strongSwan side of a connection with oemesh.
func sswConn(name string, a authCase, local, remote string, p proposalCase) peers.StrongSwanConn {
	la, ra := a.local, a.remote
	la.ID, ra.ID = local, remote
	return peers.StrongSwanConn{
		Name: name, LocalAddrs: []string{local}, RemoteAddrs: []string{remote},
		Proposals: []string{p.ike}, Local: la, Remote: ra, PSK: a.psk,
		Children: []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{p.esp}}},
	}
}

// checkProbe checks an established probe's report against p.
func checkProbe(t *testing.T, r probeResult, a authCase, p proposalCase, peer string) {
	t.Helper()
	rep := r.Report
	if r.Exit != 0 || !rep.Established {
		t.Fatalf("probe with %s did not establish:\n%s", p.ike, r)
	}
	if rep.IKE == nil || rep.IKE.Encr != p.encr || rep.IKE.PRF != p.prf || rep.IKE.DH != p.dh || rep.IKE.Integ != p.integ {
		t.Errorf("IKE SA transforms %+v, want %s %s %s %q", rep.IKE, p.encr, p.prf, p.dh, p.integ)
	}
	if !rep.PeerAuth.Verified || rep.PeerAuth.Method != a.peerMethod || rep.PeerAuth.ID != peer {
		t.Errorf("peer auth %+v, want %s by %s, verified", rep.PeerAuth, a.peerMethod, peer)
	}
	c := rep.Child
	if c == nil {
		t.Fatalf("no CHILD SA in the report:\n%s", r.Stdout)
	}
	if c.Encr != p.childEncr || c.Integ != p.childI || c.SPIIn == "" || c.SPIOut == "" || c.Mode != "tunnel" {
		t.Errorf("CHILD SA %+v, want tunnel mode %s %q with both SPIs", *c, p.childEncr, p.childI)
	}
	if len(c.TSRemote) == 0 || !strings.HasPrefix(c.TSRemote[0], peer) {
		t.Errorf("CHILD SA remote TS %v, want the peer %s", c.TSRemote, peer)
	}
	// strongSwan moves IKE_AUTH to port 4500 (MOBIKE) and kernel-libipsec
	// fakes NAT detection to force UDP encapsulation: both show up here.
	if !rep.NAT.NATT {
		t.Errorf("NAT-T not reported; strongSwan's kernel-libipsec forces UDP encapsulation: %+v", rep.NAT)
	}
	if len(rep.Exchanges) < 2 || rep.Exchanges[0].Exchange != "IKE_SA_INIT" || rep.Exchanges[len(rep.Exchanges)-1].Exchange != "IKE_AUTH" {
		t.Errorf("exchanges %+v, want IKE_SA_INIT ... IKE_AUTH", rep.Exchanges)
	}
	for _, x := range rep.Exchanges {
		if x.Millis <= 0 {
			t.Errorf("exchange %s has no time", x.Exchange)
		}
	}
	if !rep.Deleted {
		t.Errorf("the IKE SA was not deleted: %s", rep.DeleteError)
	}
	logProbe(t, r)
}

// logProbe puts the evidence of a probe in the -v output.
func logProbe(t *testing.T, r probeResult) {
	t.Helper()
	rep := r.Report
	var xs []string
	for _, x := range rep.Exchanges {
		xs = append(xs, fmt.Sprintf("%s %.1fms", x.Exchange, x.Millis))
	}
	t.Logf("probe exit %d notify %q: IKE %+v, peer auth %+v, child %+v, NAT %+v, fragments %+v, cookie %v, INVALID_KE %v, vendor IDs %q, exchanges %v",
		r.Exit, rep.Notify, rep.IKE, rep.PeerAuth, rep.Child, rep.NAT, rep.Fragments, rep.Cookie, rep.InvalidKE, rep.VendorIDs, xs)
}

// oemesh probe → strongSwan: each auth method with each proposal, against
// one charon per auth method that accepts exactly the probed proposal (one
// conn per proposal, so strongSwan cannot fall back to another).
func TestProbeToStrongSwan(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, a := range authCases(t, t.TempDir()) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "ipr")
			var conns []peers.StrongSwanConn
			for i, p := range proposalCases {
				// Every conn matches oemesh's address; strongSwan picks the
				// first whose proposals fit the offer.
				conns = append(conns, sswConn(fmt.Sprintf("p%d", i), a, net.B4.String(), net.A4.String(), p))
			}
			ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: conns})
			for i, p := range proposalCases {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				mark := ssw.Log.Mark()
				args := append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
					"--ike", p.ike, "--esp", p.esp, "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, a.flags...)
				r := runProbe(t, ctx, net.A, args...)
				checkProbe(t, r, a, p, net.B4.String())
				// strongSwan's side: it authenticated us and installed the CHILD SA.
				if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(a.sswAuthRe)); err != nil {
					t.Errorf("%s: strongSwan did not authenticate oemesh: %v", p.ike, err)
				}
				if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`CHILD_SA host\{\d+\} established`)); err != nil {
					t.Errorf("%s: strongSwan did not install the CHILD SA: %v", p.ike, err)
				}
				if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(fmt.Sprintf(`IKE_SA p%d\[\d+\] established`, i))); err != nil {
					t.Errorf("%s: strongSwan did not pick conn p%d: %v", p.ike, i, err)
				}
				// The probe's Delete reaches strongSwan.
				if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`received DELETE for IKE_SA`)); err != nil {
					t.Errorf("%s: strongSwan got no Delete from the probe: %v", p.ike, err)
				}
				if err := waitNoSA(ctx, ssw); err != nil {
					t.Errorf("%s: %v", p.ike, err)
				}
				cancel()
				if t.Failed() {
					t.Logf("probe output:\n%s", r)
					return
				}
			}
		})
	}
	t.Run("fragments", func(t *testing.T) {
		t.Parallel()
		testProbeFragments(t, in)
	})
}

// waitNoSA waits until charon holds no IKE SA.
func waitNoSA(ctx context.Context, ssw *peers.StrongSwan) error {
	var last []peers.IKESA
	for {
		sas, err := ssw.ListSAs(ctx)
		if err == nil && len(sas) == 0 {
			return nil
		}
		last = sas
		select {
		case <-ctx.Done():
			var names []string
			for _, sa := range last {
				names = append(names, sa.Name+" "+sa.State)
			}
			return fmt.Errorf("strongSwan still holds IKE SAs %v: %w", names, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fragCharon makes strongSwan fragment everything above 400-octet
// datagrams (fragment_size counts the whole IP datagram); an RSA-2048
// IKE_AUTH (about 450 octets of IKE) is then sent in fragments.
var fragCharon = []string{"fragment_size = 400"}

// oemesh probe → strongSwan with RSA keys and a forced small fragment
// threshold on both sides: our IKE_AUTH request goes out in SKF fragments
// that strongSwan reassembles, and strongSwan's response comes back in
// fragments that we reassemble.
func testProbeFragments(t *testing.T, in *peers.Install) {
	dir := t.TempDir()
	var rsaCase authCase
	for _, a := range authCases(t, dir) {
		if a.name == "rsa" {
			rsaCase = a
		}
	}
	p := proposalCases[0]
	net := netnstest.NewPair(t, "ifr")
	conn := sswConn("frag", rsaCase, net.B4.String(), net.A4.String(), p)
	conn.Fragmentation = "yes"
	ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Charon: fragCharon, Conns: []peers.StrongSwanConn{conn}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
		"--ike", p.ike, "--esp", p.esp, "--frag-threshold", "300", "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, rsaCase.flags...)
	r := runProbe(t, ctx, net.A, args...)
	checkProbe(t, r, rsaCase, p, net.B4.String())
	f := r.Report.Fragments
	if !f.PeerSupports || f.Sent < 2 || f.Received < 2 {
		t.Errorf("fragments %+v; want the peer's support, our IKE_AUTH in at least 2 fragments and its answer too", f)
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`)); err != nil {
		t.Errorf("strongSwan did not reassemble our fragments: %v", err)
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`splitting IKE message .* into \d+ fragments`)); err != nil {
		t.Errorf("strongSwan did not fragment its answer: %v", err)
	}
	if t.Failed() {
		t.Logf("probe output:\n%s", r)
	}
}

// strongSwan → oemesh respond: strongSwan initiates each proposal (one conn
// each) with each auth method; respond reports the SA it established, and
// strongSwan installs its CHILD SA (kernel-libipsec). Then strongSwan
// deletes the IKE SA and respond reports it down.
func TestStrongSwanToRespond(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, a := range authCases(t, t.TempDir()) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "irs")
			var conns []peers.StrongSwanConn
			for i, p := range proposalCases {
				conns = append(conns, sswConn(fmt.Sprintf("p%d", i), a, net.A4.String(), net.B4.String(), p))
			}
			ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: conns})
			resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String()}, a.flags...)...)
			for i, p := range proposalCases {
				name := fmt.Sprintf("p%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				from := resp.mark()
				if lines, err := ssw.Initiate(ctx, name, "host"); err != nil {
					t.Fatalf("%s: strongSwan initiate: %v\n%s", p.ike, err, strings.Join(lines, "\n"))
				}
				sa, err := ssw.WaitEstablished(ctx, name, "host")
				if err != nil {
					t.Fatalf("%s: %v", p.ike, err)
				}
				checkResponded(t, ctx, resp, from, sa, a, p, net.A4.String())
				if err := ssw.Terminate(ctx, name); err != nil {
					t.Errorf("%s: terminate: %v", p.ike, err)
				}
				if _, err := resp.waitEvent(ctx, from, "ike_down after strongSwan's Delete", eventIs("ike_down")); err != nil {
					t.Errorf("%s: %v", p.ike, err)
				}
				cancel()
				if t.Failed() {
					return
				}
			}
		})
	}
	t.Run("fragments", func(t *testing.T) {
		t.Parallel()
		var rsaCase authCase
		for _, a := range authCases(t, t.TempDir()) {
			if a.name == "rsa" {
				rsaCase = a
			}
		}
		p := proposalCases[3]
		net := netnstest.NewPair(t, "ifs")
		conn := sswConn("frag", rsaCase, net.A4.String(), net.B4.String(), p)
		conn.Fragmentation = "yes"
		ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Charon: fragCharon, Conns: []peers.StrongSwanConn{conn}})
		resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
			"--frag-threshold", "300"}, rsaCase.flags...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if lines, err := ssw.Initiate(ctx, "frag", "host"); err != nil {
			t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, "frag", "host")
		if err != nil {
			t.Fatal(err)
		}
		checkResponded(t, ctx, resp, 0, sa, rsaCase, p, net.A4.String())
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`splitting IKE message .* into \d+ fragments`)); err != nil {
			t.Errorf("strongSwan did not fragment its IKE_AUTH: %v", err)
		}
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`)); err != nil {
			t.Errorf("strongSwan did not reassemble our fragmented answer: %v", err)
		}
	})
}

// checkResponded checks respond's child_up event for an SA strongSwan
// initiated and reports as sa.
func checkResponded(t *testing.T, ctx context.Context, resp *responder, from int, sa peers.IKESA, a authCase, p proposalCase, peer string) {
	t.Helper()
	ev, err := resp.waitEvent(ctx, from, "child_up", eventIs("child_up"))
	if err != nil {
		t.Fatalf("%s: %v", p.ike, err)
	}
	if ev.IKE == nil || ev.Child == nil {
		t.Fatalf("%s: child_up without IKE or CHILD SA: %s", p.ike, ev.Line)
	}
	s := ev.IKE.Suite
	if s.Encr != p.encr || s.PRF != p.prf || s.DH != p.dh || s.Integ != p.integ {
		t.Errorf("%s: respond's IKE SA %+v, want %s %s %s %q", p.ike, s, p.encr, p.prf, p.dh, p.integ)
	}
	if ev.IKE.Initiator || ev.IKE.PeerID != peer || ev.IKE.SPIi != strings.ToLower(sa.InitiatorSPI) || ev.IKE.SPIr != strings.ToLower(sa.ResponderSPI) {
		t.Errorf("%s: respond's IKE SA %+v; strongSwan's SPIs %s/%s, peer %s", p.ike, *ev.IKE, sa.InitiatorSPI, sa.ResponderSPI, peer)
	}
	wantAuth := map[string]string{"psk": "psk", "ed25519": "pubkey", "rsa": "pubkey"}[a.name]
	if ev.IKE.PeerAuth != wantAuth {
		t.Errorf("%s: peer authenticated with %q, want %q", p.ike, ev.IKE.PeerAuth, wantAuth)
	}
	c, _ := sa.Child("host")
	if ev.Child.Encr != p.childEncr || ev.Child.Integ != p.childI {
		t.Errorf("%s: respond's CHILD SA %+v, want %s %q", p.ike, *ev.Child, p.childEncr, p.childI)
	}
	if !sameSPI(ev.Child.SPIIn, c.SPIOut) || !sameSPI(ev.Child.SPIOut, c.SPIIn) {
		t.Errorf("%s: CHILD SPIs don't pair: respond in/out %s/%s, strongSwan in/out %s/%s", p.ike, ev.Child.SPIIn, ev.Child.SPIOut, c.SPIIn, c.SPIOut)
	}
	if !ev.Child.Encap || !c.Encap {
		t.Errorf("%s: UDP encapsulation: respond %v, strongSwan %v; kernel-libipsec forces it on both", p.ike, ev.Child.Encap, c.Encap)
	}
	t.Logf("respond: %s", ev.Line)
}

// oemesh probe's exit status and report when the handshake fails, each
// for a reason strongSwan or the network gives it; and a probe from
// kernel-chosen ports (the default, so a running daemon is no obstacle).
func TestProbeFailures(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	dir := t.TempDir()
	var pskCase, edCase authCase
	for _, a := range authCases(t, dir) {
		switch a.name {
		case "psk":
			pskCase = a
		case "ed25519":
			edCase = a
		}
	}
	wrongKey := writePub(t, dir, "wrong", mustEd25519(t).Public())
	p := proposalCases[0]
	net := netnstest.NewPair(t, "ipf")
	// Two conns told apart by the identity oemesh claims.
	pskConn := sswConn("psk", pskCase, net.B4.String(), net.A4.String(), p)
	edConn := sswConn("ed", edCase, net.B4.String(), "@probe.example", p)
	edConn.RemoteAddrs = []string{net.A4.String()}
	peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{pskConn, edConn}})
	base := []string{net.B4.String(), "--peer-id", net.B4.String(), "--timeout", "2s"}
	psk := func(extra ...string) []string {
		return append(append(append([]string{}, base...), "--id", net.A4.String(), "--auth", "psk"), extra...)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		exit       int
		notify     string
		ikeUp      bool
		errPattern string
	}{
		{name: "ephemeral-ports", args: psk("--psk", pskCase.psk, "--ike", p.ike, "--esp", p.esp), exit: 0, ikeUp: true},
		{name: "wrong-psk", args: psk("--psk", "not-the-secret", "--ike", p.ike), exit: 2, notify: "AUTHENTICATION_FAILED"},
		{name: "no-ike-proposal", args: psk("--psk", pskCase.psk, "--ike", "aes256-sha512-modp3072"), exit: 2, notify: "NO_PROPOSAL_CHOSEN"},
		{name: "no-esp-proposal", args: psk("--psk", pskCase.psk, "--ike", p.ike, "--esp", "aes256-sha512"), exit: 2, notify: "NO_PROPOSAL_CHOSEN", ikeUp: true},
		{name: "peer-auth-does-not-verify", args: append(append([]string{}, base...), "--id", "@probe.example", "--auth", "key",
			"--key", edCase.flags[3], "--peer-key", wrongKey, "--ike", p.ike), exit: 4, errPattern: `(?i)authentication`},
		{name: "no-responder", args: []string{net.B4.String(), "--port", "501", "--auth", "null", "--timeout", "1s"}, exit: 3, errPattern: `(?i)did not answer|timeout|deadline`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := runProbe(t, ctx, net.A, tc.args...)
			logProbe(t, r)
			rep := r.Report
			if r.Exit != tc.exit || rep.Notify != tc.notify || rep.IKEEstablished != tc.ikeUp || rep.Established != (tc.exit == 0) {
				t.Errorf("exit %d notify %q IKE up %v established %v; want exit %d notify %q IKE up %v\n%s",
					r.Exit, rep.Notify, rep.IKEEstablished, rep.Established, tc.exit, tc.notify, tc.ikeUp, r)
			}
			if tc.exit != 0 && (rep.Error == "" || !strings.Contains(r.Stderr, rep.Error)) {
				t.Errorf("error %q is not reported on stderr:\n%s", rep.Error, r)
			}
			if tc.errPattern != "" && !regexp.MustCompile(tc.errPattern).MatchString(rep.Error) {
				t.Errorf("error %q does not match %s", rep.Error, tc.errPattern)
			}
			if tc.name == "ephemeral-ports" && strings.HasSuffix(rep.Local, ":500") {
				t.Errorf("probe used port 500 (%s) without --local-port", rep.Local)
			}
		})
	}
}
