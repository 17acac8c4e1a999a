package e2e

import (
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestConnCertRevocation: b's oemeshd has a cert conn for a whose crl:
// lists a's certificate. a (`oemesh probe --auth cert`) is refused: b's
// log gives the reason, revoked, and its metrics count it under that
// label. After the CA issues a CRL without a's serial and b gets a SIGHUP,
// the next IKE_AUTH from a succeeds: the CRL was read again.
func TestConnCertRevocation(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	const metricsAddr = "127.0.0.1:9643"

	ca := certstest.NewRoot(t, "conn CA")
	aCert := ca.Issue(t, certstest.Options{Subject: dnName("a")})
	bCert := ca.Issue(t, certstest.Options{Subject: dnName("b")})
	aFiles := certstest.WritePEM(t, filepath.Join(a.Dir, "pki"), "a", aCert)
	bFiles := certstest.WritePEM(t, filepath.Join(b.Dir, "pki"), "b", bCert)
	crl := filepath.Join(b.Dir, "pki", "crls", "conn-ca.crl")
	writeCRLFile := func(revoked ...*big.Int) {
		now := time.Now()
		certstest.WriteFile(t, crl, certstest.CRLPEM(ca.CRL(t, now.Add(-time.Minute), now.Add(24*time.Hour), revoked...)))
	}
	writeCRLFile(aCert.Cert.SerialNumber)
	start(t, m, ctx, "b", lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: rw
    local: %s
    remote: %s
    auth: cert
    cert: %s
    key: %s
    ca: %s
    crl: %s
    remote_id: %q
metrics:
  listen: "%s"
`, b.Addr4, a.Addr4, bFiles.Cert, bFiles.Key, bFiles.CAs[0], filepath.Dir(crl), certDNa, metricsAddr)})

	probe := func() certOEReport {
		return certProbe(t, ctx, a, b, "--auth", "cert", "--cert", aFiles.Cert, "--key", aFiles.Key, "--ca", aFiles.CAs[0], "--peer-id", certDNb)
	}

	// Revoked: refused, and b says why.
	if rep := probe(); rep.Established {
		t.Fatalf("a's revoked certificate was accepted\n--- b's log:\n%s", tail(m.Log("b"), 30))
	} else {
		t.Logf("probe with the revoked certificate: exit %d, %s", rep.Exit, rep.Error)
	}
	waitLog(t, m, "b", "revoked", 10*time.Second)
	if log := m.Log("b"); !strings.Contains(log, "revoked by the CRL") {
		t.Errorf("b's log does not say which CRL revoked a:\n%s", tail(log, 20))
	}
	if metrics := scrapeIn(t, b.Node, metricsAddr); !strings.Contains(metrics, `oemesh_cert_failures_total{reason="revoked"} 1`+"\n") {
		t.Errorf("b's metrics do not count the refusal as revoked:\n%s", metrics)
	}

	// The CRL renewed without a's serial, and a SIGHUP: a is accepted.
	writeCRLFile()
	if err := m.Signal("b", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, m, "b", "SIGHUP: CA bundle and CRLs reloaded", 10*time.Second)
	if rep := probe(); !rep.Established || !rep.PeerAuth.Verified || !strings.Contains(rep.PeerAuth.ID, "CN=b") {
		t.Errorf("after the CRL's renewal: established %v, verified %v, ID %q, error %q\n--- b's log:\n%s",
			rep.Established, rep.PeerAuth.Verified, rep.PeerAuth.ID, rep.Error, tail(m.Log("b"), 30))
	}
}
