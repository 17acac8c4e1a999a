package e2e

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// certOEReport is what TestCertificateOEServer reads of `oemesh probe
// --json`.
type certOEReport struct {
	Exit        int    `json:"exit"`
	Error       string `json:"error"`
	Established bool   `json:"established"`
	Deleted     bool   `json:"deleted"`
	PeerAuth    struct {
		ID       string `json:"id"`
		Verified bool   `json:"verified"`
		Cert     *struct {
			Subject  string   `json:"subject"`
			DNSNames []string `json:"dns_names"`
		} `json:"cert"`
	} `json:"peer_auth"`
	Child *struct {
		VirtualIPs []string `json:"virtual_ips"`
	} `json:"child"`
}

// TestCertificateOEServer: b runs oemeshd as a certificate OE server
// (oe.cert with an intermediate, oe.cert_key, oe.address_pool), with its
// host key as well; a is a NULL client that asks for a certificate from
// the test CA and for an address (Libreswan's oe-letsencrypt-client, as
// `oemesh probe --auth null --peer-auth cert --ca --request-address`
// plays it). b authenticates with its certificate, under its subject DN,
// leases a the pool's first address, `oemesh traffic` on b shows a
// NULL tunnel whose remote selector is that address, and b's packets to
// that address leave as ESP to a. A client that asks
// for no certificate (the DNSSEC OE client, and Libreswan's certificate
// OE client, which then fails: oe.cert_answer always is its remedy) still
// gets b's raw key.
func TestCertificateOEServer(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]

	root := certstest.NewRoot(t, "oemesh test root")
	inter := root.NewIntermediate(t, "oemesh test issuer")
	srv := inter.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	files := certstest.WritePEM(t, filepath.Join(b.Dir, "certoe"), "server", srv)
	caFile := filepath.Join(a.Dir, "certoe-ca.crt")
	certstest.WriteFile(t, caFile, certstest.CertPEM(srv.Root))
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies,
		Extra: "oe:\n  cert: " + files.Cert + "\n  cert_key: " + files.Key + "\n  address_pool: [100.64.0.1-100.64.0.9]\n"})

	probe := exec.CommandContext(ctx, "ip", "netns", "exec", a.Node.NSName, filepath.Join(binDir, "oemesh"), "probe", b.Addr4.String(), "--json",
		"--auth", "null", "--peer-auth", "cert", "--ca", caFile, "--request-address", "--hold", "20s", "--timeout", "5s")
	var out strings.Builder
	probe.Stdout, probe.Stderr = &out, &out
	if err := probe.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = probe.Process.Kill(); _ = probe.Wait() })

	// While the probe holds its SAs: b's view.
	leased := "100.64.0.1"
	var ts []control.TunnelStatus
	var tout string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ts, tout = traffic(t, m, ctx, "b"); len(ts) > 0 {
			break
		}
	}
	if !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == a.Addr4.String() && tn.Auth == control.AuthNull && tn.PeerID == "" && tn.Mode == control.ModeTunnel &&
			!tn.Initiator && slices.Equal(tn.Remote, []string{leased + "-" + leased}) && slices.Equal(tn.Local, []string{b.Addr4.String() + "-" + b.Addr4.String()})
	}) {
		t.Errorf("oemesh traffic on b: want a NULL tunnel from %s for the leased %s:\n%s\n--- oemeshd log of b:\n%s", a.Addr4, leased, tout, tail(m.Log("b"), 40))
	}
	// b's packets to the leased address go to a through the SA (a's probe
	// installs nothing, so none is answered), never in the clear.
	c := capture(t, m)
	m.Ping(ctx, "b", netip.MustParseAddr(leased), 3, 100*time.Millisecond)
	counts := c.Settled()
	if n := counts.From(b.Addr4, a.Addr4, lab.KindESP); n < 3 {
		t.Errorf("b pinged the leased %s: %d ESP packets from b to a, want ≥ 3 (%v)", leased, n, counts)
	}
	if log := m.Log("b"); !strings.Contains(log, "leased internal addresses") || !strings.Contains(log, leased) {
		t.Errorf("b's log does not show the lease of %s:\n%s", leased, tail(log, 40))
	}
	_ = probe.Process.Signal(os.Interrupt) // end --hold: the probe deletes its SAs and reports
	if err := probe.Wait(); err != nil {
		t.Errorf("oemesh probe: %v\n%s", err, out.String())
	}
	var rep certOEReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("oemesh probe: no JSON report: %v\n%s", err, out.String())
	}
	if !rep.Established || rep.Exit != 0 || !rep.Deleted {
		t.Errorf("probe: established %v, exit %d, deleted %v, error %q", rep.Established, rep.Exit, rep.Deleted, rep.Error)
	}
	if c := rep.PeerAuth.Cert; !rep.PeerAuth.Verified || c == nil || c.Subject != "CN=b.example" || !slices.Equal(c.DNSNames, []string{"b.example"}) {
		t.Errorf("b's authentication: verified %v, certificate %+v; want b.example's certificate", rep.PeerAuth.Verified, c)
	}
	if !strings.Contains(rep.PeerAuth.ID, "CN=b.example") {
		t.Errorf("b's ID %q, want its certificate's subject DN (Libreswan's leftid=%%fromcert)", rep.PeerAuth.ID)
	}
	if rep.Child == nil || !slices.Equal(rep.Child.VirtualIPs, []string{leased}) {
		t.Errorf("a's CHILD SA %+v: want the virtual IP %s", rep.Child, leased)
	}
	waitNoTunnel(t, m, ctx, "b")

	// A certificate client that sends no CERTREQ (Libreswan's) gets b's
	// raw key by default (oe.cert_answer ifasked), and refuses it.
	noReq := a.Node.Command(ctx, filepath.Join(binDir, "oemesh"), "probe", b.Addr4.String(), "--json", "--auth", "null", "--peer-auth", "cert",
		"--ca", caFile, "--no-certreq", "--timeout", "5s")
	rawNoReq, errNoReq := noReq.Output()
	var rep0 certOEReport
	if jerr := json.Unmarshal(rawNoReq, &rep0); jerr != nil {
		t.Fatalf("oemesh probe --no-certreq: %v, no JSON report: %v\n%s", errNoReq, jerr, rawNoReq)
	}
	if rep0.Established || rep0.PeerAuth.Cert != nil {
		t.Errorf("a certificate client without CERTREQ: established %v, certificate %+v; want b's raw key, refused", rep0.Established, rep0.PeerAuth.Cert)
	}

	// The DNSSEC OE client asks for no certificate: b's raw key answers.
	spki, err := x509.MarshalPKIXPublicKey(b.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(a.Dir, "certoe-b.pub")
	certstest.WriteFile(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	cmd := a.Node.Command(ctx, filepath.Join(binDir, "oemesh"), "probe", b.Addr4.String(), "--json", "--auth", "null", "--peer-auth", "key", "--timeout", "5s",
		"--peer-key", pubFile)
	raw, err := cmd.Output()
	var rep2 certOEReport
	if jerr := json.Unmarshal(raw, &rep2); jerr != nil {
		t.Fatalf("oemesh probe --peer-auth key: %v, no JSON report: %v\n%s", err, jerr, raw)
	}
	if !rep2.Established || rep2.PeerAuth.Cert != nil || rep2.PeerAuth.ID != b.Addr4.String() {
		t.Errorf("a client without CERTREQ: established %v, ID %q, certificate %+v (error %q); want b's raw key under its address",
			rep2.Established, rep2.PeerAuth.ID, rep2.PeerAuth.Cert, rep2.Error)
	}
}

// waitNoTunnel waits until host shows no tunnel.
func waitNoTunnel(t *testing.T, m *lab.Mesh, ctx context.Context, host string) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ts []control.TunnelStatus
		if ts, out = traffic(t, m, ctx, host); len(ts) == 0 {
			return
		}
	}
	t.Errorf("%s still has tunnels after the probe deleted its SAs:\n%s", host, out)
}
