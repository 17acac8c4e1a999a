package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestCertificateOEServerAnswersAlways: b runs oemeshd as a certificate
// OE server with its host key as well and oe.cert_answer: always. a is a
// certificate OE client that sends no CERTREQ (Libreswan's, as `oemesh
// probe --auth null --peer-auth cert --no-certreq` plays it): b answers
// it with its certificate. The price, as documented: a DNS OE client (one
// that verifies b's raw key) now gets the certificate too, and fails.
func TestCertificateOEServerAnswersAlways(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]

	root := certstest.NewRoot(t, "oemesh test root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	files := certstest.WritePEM(t, filepath.Join(b.Dir, "certoe"), "server", srv)
	caFile := filepath.Join(a.Dir, "certoe-ca.crt")
	certstest.WriteFile(t, caFile, certstest.CertPEM(srv.Root))
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies,
		Extra: "oe:\n  cert: " + files.Cert + "\n  cert_key: " + files.Key + "\n  cert_answer: always\n"})

	probe := func(args ...string) (certOEReport, string) {
		t.Helper()
		args = append([]string{"probe", b.Addr4.String(), "--json", "--auth", "null", "--timeout", "5s"}, args...)
		raw, err := a.Node.Command(ctx, filepath.Join(binDir, "oemesh"), args...).Output()
		var rep certOEReport
		if jerr := json.Unmarshal(raw, &rep); jerr != nil {
			t.Fatalf("oemesh %s: %v, no JSON report: %v\n%s", strings.Join(args, " "), err, jerr, raw)
		}
		return rep, string(raw)
	}
	rep, raw := probe("--peer-auth", "cert", "--ca", caFile, "--no-certreq")
	if c := rep.PeerAuth.Cert; !rep.Established || !rep.PeerAuth.Verified || c == nil || c.Subject != "CN=b.example" {
		t.Errorf("a client without CERTREQ: established %v, verified %v, certificate %+v; want b.example's certificate\n%s\n--- oemeshd log of b:\n%s",
			rep.Established, rep.PeerAuth.Verified, c, raw, tail(m.Log("b"), 30))
	}
	waitNoTunnel(t, m, ctx, "b")

	// A DNS OE client: it would verify b's raw key, but gets the
	// certificate's signature under the certificate's DN.
	spki, err := x509.MarshalPKIXPublicKey(b.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(a.Dir, "certoe-b.pub")
	certstest.WriteFile(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	rep, raw = probe("--peer-auth", "key", "--peer-key", pubFile)
	if rep.Established || !strings.Contains(rep.PeerAuth.ID, "CN=b.example") {
		t.Errorf("a DNS OE client of a cert_answer always server: established %v, b's ID %q; want b's certificate DN, and a failure\n%s",
			rep.Established, rep.PeerAuth.ID, raw)
	}
}
