package interop

import (
	"context"
	"crypto"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// certCase is one certificate interop case: the key type of both end
// entities, and who issues them.
type certCase struct {
	name string
	key  func(t testing.TB) crypto.Signer
	// sswByRoot: charon's certificate comes from the root itself, so
	// charon holds only the root and must be sent our intermediate.
	sswByRoot bool
	// frag: small fragment thresholds on both sides.
	frag  bool
	sswRe string // charon's log line for our AUTH
}

var certCases = []certCase{
	{name: "rsa", key: func(t testing.TB) crypto.Signer { return mustRSA(t, 2048) }, sswRe: `authentication of 'C=XX, O=oemesh interop, CN=oemesh' with RSA\S* successful`},
	{name: "ecdsa-p256", key: mustP256, sswRe: `authentication of 'C=XX, O=oemesh interop, CN=oemesh' with ECDSA\S* successful`},
	{name: "ed25519", key: mustEd25519, sswRe: `authentication of 'C=XX, O=oemesh interop, CN=oemesh' with ED25519 successful`},
	{name: "intermediate-from-us", key: mustP256, sswByRoot: true, sswRe: `authentication of 'C=XX, O=oemesh interop, CN=oemesh' with ECDSA\S* successful`},
	{name: "fragments", key: func(t testing.TB) crypto.Signer { return mustRSA(t, 2048) }, frag: true, sswRe: `authentication of 'C=XX, O=oemesh interop, CN=oemesh' with RSA\S* successful`},
}

// certSetup is both sides' certificates and files for one case: charon
// at sswIP, oemesh at ourIP.
type certSetup struct {
	conn              peers.StrongSwanConn
	ourFlags          []string
	sswIssuer         string
	ourChain, sswSent int
}

func newCertSetup(t *testing.T, c certCase, ourIP, sswIP net.IP) certSetup {
	dir := t.TempDir()
	ca := newInteropCA(t)
	ourKey, sswKey := c.key(t), c.key(t)
	ours := ca.issue("oemesh", ourKey, ourIP, false)
	ssw := ca.issue("ssw", sswKey, sswIP, c.sswByRoot)
	keyFile, _ := writeKey(t, dir, "oemesh", ourKey)
	sswCerts := [][]byte{ssw.Raw, ca.inter.Raw}
	s := certSetup{sswIssuer: "CN=Intermediate CA,O=oemesh interop,C=XX", ourChain: 2, sswSent: 2}
	if c.sswByRoot {
		sswCerts, s.sswIssuer = [][]byte{ssw.Raw}, "CN=Root CA,O=oemesh interop,C=XX"
	}
	s.conn = peers.StrongSwanConn{
		Name: "cert", LocalAddrs: []string{sswIP.String()}, RemoteAddrs: []string{ourIP.String()},
		Proposals: []string{"aes128gcm16-prfsha256-x25519"},
		// charon's default send_cert = ifasked: it sends its chain because
		// our CERTREQ asks for it.
		Local:    peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: dnOf("ssw"), Key: sswKey, Certs: sswCerts},
		Remote:   peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: dnOf("oemesh"), CACerts: [][]byte{ca.root.Raw}},
		Children: []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{"aes128gcm16"}}},
	}
	s.ourFlags = []string{"--auth", "cert", "--cert", writeCerts(t, dir, "oemesh.pem", ours, ca.inter), "--key", keyFile,
		"--ca", writeCerts(t, dir, "root.pem", ca.root), "--peer-id", dnOf("ssw"),
		"--ike", "aes128gcm16-prfsha256-x25519", "--esp", "aes128gcm16"}
	if c.frag {
		s.conn.Fragmentation = "yes"
		s.ourFlags = append(s.ourFlags, "--frag-threshold", "300")
	}
	return s
}

func certCharon(c certCase) []string {
	if c.frag {
		return fragCharon
	}
	return nil
}

// oemesh probe → strongSwan 5.9.8 with X.509 certificates from a test CA:
// RSA, ECDSA and Ed25519; DN IDs on both sides; an intermediate each side
// must send; CERTREQ-driven sending (charon's send_cert = ifasked, ours);
// IKE_AUTH fragmented.
func TestCertProbeToStrongSwan(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, c := range certCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pair := netnstest.NewPair(t, "icp")
			s := newCertSetup(t, c, net.IP(pair.A4.AsSlice()), net.IP(pair.B4.AsSlice()))
			ssw := peers.StartStrongSwan(t, in, pair.B.Name, peers.StrongSwanConfig{Charon: certCharon(c), Conns: []peers.StrongSwanConn{s.conn}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := runProbe(t, ctx, pair.A, append([]string{pair.B4.String(), "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, s.ourFlags...)...)
			rep := r.Report
			if r.Exit != 0 || !rep.Established {
				t.Fatalf("probe did not establish:\n%s", r)
			}
			pa := rep.PeerAuth
			if !pa.Verified || pa.Cert == nil || pa.Cert.Subject != "CN=ssw,O=oemesh interop,C=XX" || pa.Cert.Issuer != s.sswIssuer {
				t.Errorf("peer auth %+v, cert %+v; want charon's certificate from %s, verified", pa, pa.Cert, s.sswIssuer)
			}
			if !pa.CertReq || pa.CertsSent != s.ourChain {
				t.Errorf("charon's CERTREQ %v, we sent %d CERT payloads; want a CERTREQ and %d", pa.CertReq, pa.CertsSent, s.ourChain)
			}
			if rep.Child == nil {
				t.Errorf("no CHILD SA:\n%s", r)
			}
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(c.sswRe)); err != nil {
				t.Errorf("strongSwan did not authenticate oemesh's certificate: %v", err)
			}
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received cert request for "C=XX, O=oemesh interop, CN=Root CA"`)); err != nil {
				t.Errorf("strongSwan got no CERTREQ for the root from us: %v", err)
			}
			if c.sswByRoot {
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received issuer cert "C=XX, O=oemesh interop, CN=Intermediate CA"`)); err != nil {
					t.Errorf("strongSwan did not take our intermediate: %v", err)
				}
			}
			if c.frag {
				f := rep.Fragments
				if f.Sent < 2 || f.Received < 2 {
					t.Errorf("fragments %+v; want IKE_AUTH fragmented both ways", f)
				}
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`)); err != nil {
					t.Errorf("strongSwan did not reassemble our fragments: %v", err)
				}
			}
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received DELETE for IKE_SA`)); err != nil {
				t.Errorf("strongSwan got no Delete from the probe: %v", err)
			}
			if t.Failed() {
				t.Logf("probe output:\n%s", r)
			}
			logProbe(t, r)
		})
	}
}

// strongSwan 5.9.8 → oemesh respond with X.509 certificates: the same
// cases, charon initiating.
func TestCertStrongSwanToRespond(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, c := range certCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pair := netnstest.NewPair(t, "icr")
			s := newCertSetup(t, c, net.IP(pair.B4.AsSlice()), net.IP(pair.A4.AsSlice()))
			ssw := peers.StartStrongSwan(t, in, pair.A.Name, peers.StrongSwanConfig{Charon: certCharon(c), Conns: []peers.StrongSwanConn{s.conn}})
			resp := startRespond(t, pair.B, append([]string{"--listen", pair.B4.String()}, s.ourFlags...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if lines, err := ssw.Initiate(ctx, "cert", "host"); err != nil {
				t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
			}
			if _, err := ssw.WaitEstablished(ctx, "cert", "host"); err != nil {
				t.Fatal(err)
			}
			ev, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up"))
			if err != nil {
				t.Fatal(err)
			}
			if ev.IKE == nil || ev.IKE.PeerAuth != "cert" || ev.IKE.Initiator {
				t.Errorf("respond's IKE SA: %s; want a responder SA with a certificate-authenticated peer", ev.Line)
			}
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(c.sswRe)); err != nil {
				t.Errorf("strongSwan did not authenticate oemesh's certificate: %v", err)
			}
			// Our IKE_SA_INIT response asked for the root's certificates.
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received cert request for "C=XX, O=oemesh interop, CN=Root CA"`)); err != nil {
				t.Errorf("strongSwan got no CERTREQ for the root from us: %v", err)
			}
			if c.sswByRoot {
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received issuer cert "C=XX, O=oemesh interop, CN=Intermediate CA"`)); err != nil {
					t.Errorf("strongSwan did not take our intermediate: %v", err)
				}
			}
			if c.frag {
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`splitting IKE message .* into \d+ fragments`)); err != nil {
					t.Errorf("strongSwan did not fragment its IKE_AUTH: %v", err)
				}
				if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`received fragment #\d+ of \d+, reassembled fragmented IKE message`)); err != nil {
					t.Errorf("strongSwan did not reassemble our fragmented answer: %v", err)
				}
			}
			t.Logf("respond: %s", ev.Line)
		})
	}
}

// oemesh probe refuses charon's certificate when it does not chain to
// --ca, with the reason in the report. (A certificate that does not name
// --peer-id cannot be staged with charon, which refuses an IDr that is
// not its own; ike's unit tests cover it.)
func TestCertProbeRefusesStrongSwan(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(flags []string, dir string) []string
		want string
	}{
		{"unknown CA", func(flags []string, dir string) []string {
			return replaceFlag(flags, "--ca", writeCerts(t, dir, "other.pem", newInteropCA(t).root))
		}, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pair := netnstest.NewPair(t, "icn")
			s := newCertSetup(t, certCases[1], net.IP(pair.A4.AsSlice()), net.IP(pair.B4.AsSlice()))
			peers.StartStrongSwan(t, in, pair.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{s.conn}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			flags := tc.mod(s.ourFlags, t.TempDir())
			r := runProbe(t, ctx, pair.A, append([]string{pair.B4.String(), "--local-port", "500", "--local-natt-port", "4500", "--timeout", "5s"}, flags...)...)
			if r.Exit == 0 || r.Report.Established || r.Report.PeerAuth.Verified || !strings.Contains(r.Report.Error, tc.want) {
				t.Errorf("probe: exit %d, error %q; want a refusal naming %q\n%s", r.Exit, r.Report.Error, tc.want, r)
			}
		})
	}
}

// replaceFlag returns flags with the value of name replaced.
func replaceFlag(flags []string, name, value string) []string {
	out := append([]string(nil), flags...)
	for i := range out[:len(out)-1] {
		if out[i] == name {
			out[i+1] = value
		}
	}
	return out
}
