package e2e

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestCertificateOEServerReload: b serves certificate OE with oe.cert; the
// certificate is renewed (another SAN) and b gets a SIGHUP; the next NULL
// client that asks for a certificate gets the renewed one. A renewal whose
// key does not match is refused, logged with the file, and the renewed
// certificate stays in use.
func TestCertificateOEServerReload(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]

	root := certstest.NewRoot(t, "oemesh test root")
	first := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	files := certstest.WritePEM(t, filepath.Join(b.Dir, "certoe"), "server", first)
	caFile := filepath.Join(a.Dir, "certoe-ca.crt")
	certstest.WriteFile(t, caFile, certstest.CertPEM(root.Cert))
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies,
		Extra: "oe:\n  cert: " + files.Cert + "\n  cert_key: " + files.Key + "\n"})

	probe := func() certOEReport {
		return certProbe(t, ctx, a, b, "--auth", "null", "--peer-auth", "cert", "--ca", caFile)
	}
	names := func(rep certOEReport) []string {
		if !rep.Established || rep.PeerAuth.Cert == nil {
			t.Fatalf("probe: established %v, certificate %+v, error %q\n--- b's log:\n%s", rep.Established, rep.PeerAuth.Cert, rep.Error, tail(m.Log("b"), 30))
		}
		return rep.PeerAuth.Cert.DNSNames
	}
	if got := names(probe()); !slices.Equal(got, []string{"b.example"}) {
		t.Errorf("before the renewal: DNS names %v, want [b.example]", got)
	}

	renewed := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example", "www.b.example"}})
	certstest.WriteFile(t, files.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, files.Key, certstest.KeyPEM(t, renewed.Key))
	if err := m.Signal("b", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, m, "b", "SIGHUP: certificate reloaded", 10*time.Second)
	if got := names(probe()); !slices.Equal(got, []string{"b.example", "www.b.example"}) {
		t.Errorf("after the renewal: DNS names %v, want the renewed certificate's", got)
	}

	// A key that does not belong to the certificate: refused, logged.
	certstest.WriteFile(t, files.Key, certstest.KeyPEM(t, first.Key))
	if err := m.Signal("b", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, m, "b", "SIGHUP: certificate not reloaded", 10*time.Second)
	for _, l := range strings.Split(m.Log("b"), "\n") {
		if strings.Contains(l, "certificate not reloaded") && !strings.Contains(l, files.Cert) {
			t.Errorf("the refusal does not name the file: %s", l)
		}
	}
	if got := names(probe()); !slices.Equal(got, []string{"b.example", "www.b.example"}) {
		t.Errorf("after a bad renewal: DNS names %v, want the renewed certificate's still", got)
	}
}

// certProbe runs `oemesh probe --json` on from to to's IPv4 address with
// args, and returns its report, whether or not the probe succeeded.
func certProbe(t *testing.T, ctx context.Context, from, to *lab.MeshHost, args ...string) certOEReport {
	t.Helper()
	args = append([]string{"probe", to.Addr4.String(), "--json", "--timeout", "5s"}, args...)
	raw, err := from.Node.Command(ctx, filepath.Join(binDir, "oemesh"), args...).Output()
	var rep certOEReport
	if jerr := json.Unmarshal(raw, &rep); jerr != nil {
		t.Fatalf("oemesh %s: %v, no JSON report: %v\n%s", strings.Join(args, " "), err, jerr, raw)
	}
	return rep
}
