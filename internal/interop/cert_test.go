package interop

import (
	"context"
	"crypto"
	"net"
	"regexp"
	"slices"
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

// certPeer is a strongSwan build the certificate cases run against, with
// the IKE proposal both sides use with it.
type certPeer struct {
	version peers.StrongSwanVersion
	require func(testing.TB) *peers.Install
	// prefix starts the names of the tests' network namespaces.
	prefix string
	ike    string
	// addKE is charon's name of the additional key exchange of ike
	// (RFC 9370), "" for a classical proposal.
	addKE string
}

var (
	// certSSW5 is Debian 12's strongSwan 5.9.8: classical X25519.
	certSSW5 = certPeer{version: peers.StrongSwan5, require: peers.Require, prefix: "ic", ike: "aes128gcm16-prfsha256-x25519"}
	// certSSW6 is strongSwan 6.1 with the hybrid its configurations
	// default to here: X25519, then ML-KEM-768 in IKE_INTERMEDIATE, so
	// that the certificates' AUTH covers the IntAuth chain.
	certSSW6 = certPeer{version: peers.StrongSwan6, require: peers.RequireStrongSwan6, prefix: "ic6", ike: "aes128gcm16-prfsha256-x25519-ke1_mlkem768", addKE: "ML_KEM_768"}
)

// certSetup is both sides' certificates and files for one case: charon
// at sswIP, oemesh at ourIP.
type certSetup struct {
	conn              peers.StrongSwanConn
	ourFlags          []string
	sswIssuer         string
	ourChain, sswSent int
}

func newCertSetup(t *testing.T, c certCase, p certPeer, ourIP, sswIP net.IP) certSetup {
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
		Proposals: []string{p.ike},
		// send_cert = ifasked (charon's default, and ours): each side
		// sends its chain because the other's CERTREQ asks for it.
		SendCert: "ifasked",
		Local:    peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: dnOf("ssw"), Key: sswKey, Certs: sswCerts},
		Remote:   peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: dnOf("oemesh"), CACerts: [][]byte{ca.root.Raw}},
		Children: []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{"aes128gcm16"}}},
	}
	s.ourFlags = []string{"--auth", "cert", "--cert", writeCerts(t, dir, "oemesh.pem", ours, ca.inter), "--key", keyFile,
		"--ca", writeCerts(t, dir, "root.pem", ca.root), "--peer-id", dnOf("ssw"),
		"--ike", p.ike, "--esp", "aes128gcm16", "--send-cert", "ifasked"}
	if c.frag {
		s.conn.Fragmentation = "yes"
		s.ourFlags = append(s.ourFlags, "--frag-threshold", "300")
	}
	return s
}

// config is charon's configuration for the case.
func (p certPeer) config(c certCase, s certSetup) peers.StrongSwanConfig {
	return peers.StrongSwanConfig{Version: p.version, Charon: certCharon(c), Conns: []peers.StrongSwanConn{s.conn}}
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
func TestCertProbeToStrongSwan(t *testing.T) { testCertProbe(t, certSSW5) }

// oemesh probe → strongSwan 6.1: the same cases over a hybrid IKE SA
// (X25519, then ML-KEM-768 in IKE_INTERMEDIATE), so that both AUTH
// payloads cover the IntAuth chain; in the fragments case the
// IKE_INTERMEDIATE messages are fragmented too.
func TestCertProbeToStrongSwan6(t *testing.T) { testCertProbe(t, certSSW6) }

func testCertProbe(t *testing.T, p certPeer) {
	in := p.require(t)
	oemesh(t)
	t.Parallel()
	for _, c := range certCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pair := netnstest.NewPair(t, p.prefix+"p")
			s := newCertSetup(t, c, p, net.IP(pair.A4.AsSlice()), net.IP(pair.B4.AsSlice()))
			ssw := peers.StartStrongSwan(t, in, pair.B.Name, p.config(c, s))
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
			p.checkProbeKE(t, ctx, r, ssw)
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
func TestCertStrongSwanToRespond(t *testing.T) { testCertRespond(t, certSSW5) }

// strongSwan 6.1 → oemesh respond: the same cases over a hybrid IKE SA.
func TestCertStrongSwan6ToRespond(t *testing.T) { testCertRespond(t, certSSW6) }

func testCertRespond(t *testing.T, p certPeer) {
	in := p.require(t)
	oemesh(t)
	t.Parallel()
	for _, c := range certCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pair := netnstest.NewPair(t, p.prefix+"r")
			s := newCertSetup(t, c, p, net.IP(pair.B4.AsSlice()), net.IP(pair.A4.AsSlice()))
			ssw := peers.StartStrongSwan(t, in, pair.A.Name, p.config(c, s))
			resp := startRespond(t, pair.B, append([]string{"--listen", pair.B4.String()}, s.ourFlags...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if lines, err := ssw.Initiate(ctx, "cert", "host"); err != nil {
				t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
			}
			sa, err := ssw.WaitEstablished(ctx, "cert", "host")
			if err != nil {
				t.Fatal(err)
			}
			if want := p.additionalKEs(); !slices.Equal(sa.AdditionalKE, want) {
				t.Errorf("charon's IKE SA has additional key exchanges %v, want %v", sa.AdditionalKE, want)
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
func TestCertProbeRefusesStrongSwan(t *testing.T) { testCertProbeRefuses(t, certSSW5) }

// The same refusal, of strongSwan 6.1 over a hybrid IKE SA.
func TestCertProbeRefusesStrongSwan6(t *testing.T) { testCertProbeRefuses(t, certSSW6) }

func testCertProbeRefuses(t *testing.T, p certPeer) {
	in := p.require(t)
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
			pair := netnstest.NewPair(t, p.prefix+"n")
			s := newCertSetup(t, certCases[1], p, net.IP(pair.A4.AsSlice()), net.IP(pair.B4.AsSlice()))
			peers.StartStrongSwan(t, in, pair.B.Name, p.config(certCases[1], s))
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

// additionalKEs is what charon lists as the IKE SA's additional key
// exchanges.
func (p certPeer) additionalKEs() []string {
	if p.addKE == "" {
		return nil
	}
	return []string{p.addKE}
}

// checkProbeKE checks the key exchanges of a probe's IKE SA with charon:
// none beyond X25519 with a classical proposal; with a hybrid one,
// ML-KEM in IKE_INTERMEDIATE 1 before IKE_AUTH, in the probe's report and
// in charon's log.
func (p certPeer) checkProbeKE(t *testing.T, ctx context.Context, r probeResult, ssw *peers.StrongSwan) {
	t.Helper()
	var exch []string
	for _, x := range r.Report.Exchanges {
		exch = append(exch, x.Exchange)
	}
	want, kes, pq := []string{"IKE_SA_INIT", "IKE_AUTH"}, "x25519", false
	if p.addKE != "" {
		want, kes, pq = []string{"IKE_SA_INIT", "IKE_INTERMEDIATE", "IKE_AUTH"}, "x25519+mlkem768", true
	}
	if !slices.Equal(exch, want) || r.Report.KeyExchanges != kes || r.Report.QuantumResistant != pq {
		t.Errorf("probe exchanges %v, key exchanges %q, quantum-resistant %v; want %v, %q, %v",
			exch, r.Report.KeyExchanges, r.Report.QuantumResistant, want, kes, pq)
	}
	if p.addKE == "" {
		return
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`selected proposal: IKE:\S+/CURVE_25519/KE1_`+p.addKE+`(\s|$)`)); err != nil {
		t.Errorf("strongSwan %v: %v", p.version, err)
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
