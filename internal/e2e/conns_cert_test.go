package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

const (
	certDNa = "C=XX, O=oemesh test, CN=a"
	certDNb = "C=XX, O=oemesh test, CN=b"
)

func dnName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"XX"}, Organization: []string{"oemesh test"}, CommonName: cn}
}

// certSwanConn is strongSwan's conn on b for a cert conn with a: its own
// certificate, a's DN and the CA a's certificate must chain to.
func certSwanConn(a, b *lab.MeshHost, ssw *certstest.Cert, ca *x509.Certificate) peers.StrongSwanConn {
	return peers.StrongSwanConn{
		Name: "oemesh", LocalAddrs: []string{b.Addr4.String()}, RemoteAddrs: []string{a.Addr4.String()},
		Local:  peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: certDNb, Key: ssw.Key, Certs: ssw.DER()},
		Remote: peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: certDNa, CACerts: [][]byte{ca.Raw}},
		Children: []peers.StrongSwanChild{{Name: "host",
			LocalTS: []string{b.Addr4.String() + "/32"}, RemoteTS: []string{a.Addr4.String() + "/32"}}},
	}
}

// TestConnCertStrongSwan: a's oemeshd has a conn with auth cert to
// strongSwan 5.9.8 on b, both with certificates from one test CA and DN
// IDs (remote_id a DN). oemeshd brings it up (auto: start) and pings flow
// through it; then strongSwan initiates, and pings flow again. After a
// renewal of a's certificate (new serial, new key) and a SIGHUP, the next
// IKE SA authenticates with the new key. Last, strongSwan presents a
// certificate from another CA: a refuses it (unknown_ca in its log) and
// no tunnel comes up.
func TestConnCertStrongSwan(t *testing.T) {
	in := peers.Require(t)
	ctx := ctxT(t, 150*time.Second)
	m := newMesh(t, lab.MeshOptions{})
	a, b := m.Hosts["a"], m.Hosts["b"]
	ca := certstest.NewRoot(t, "conn CA")
	ours := ca.Issue(t, certstest.Options{Subject: dnName("a")})
	theirs := ca.Issue(t, certstest.Options{Subject: dnName("b")})
	files := certstest.WritePEM(t, filepath.Join(a.Dir, "pki"), "a", ours)

	ssw := peers.StartStrongSwan(t, in, b.Node.NSName, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{certSwanConn(a, b, theirs, ca.Cert)}})
	start(t, m, ctx, "a", lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: ssw
    local: %s
    remote: %s
    auth: cert
    cert: %s
    key: %s
    ca: %s
    remote_id: %q
    keying_tries: 0
    auto: start
`, a.Addr4, b.Addr4, files.Cert, files.Key, files.CAs[0], certDNb)})

	// oemeshd initiates.
	waitConn(t, m, ctx, "a", "ssw", 30*time.Second, func(c control.ConnStatus) bool { return c.State == control.ConnUp })
	if n, out := pingFrom(ctx, a.Node, b.Addr4.String(), 3); n != 3 {
		t.Errorf("ping a→b through the cert conn: %d/3\n%s", n, out)
	}
	sa, err := ssw.WaitEstablished(ctx, "oemesh", "host")
	if err != nil {
		t.Fatalf("strongSwan: %v\n--- a's log:\n%s", err, tail(m.Log("a"), 40))
	}
	if sa.RemoteID != certDNa || sa.LocalID != certDNb {
		t.Errorf("strongSwan's IKE SA: local %q remote %q; want %q and %q", sa.LocalID, sa.RemoteID, certDNb, certDNa)
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`authentication of '`+regexp.QuoteMeta(certDNa)+`' with ECDSA\S* successful`)); err != nil {
		t.Errorf("strongSwan did not authenticate a's certificate: %v", err)
	}
	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String()
	}) {
		t.Errorf("oemesh traffic on a has no tunnel with b:\n%s", out)
	}

	// strongSwan initiates, after a renewal of a's certificate: a new
	// serial and an RSA key, so charon's log shows which one a used.
	renewed := ca.Issue(t, certstest.Options{Subject: dnName("a"), Key: certstest.RSA2048})
	certstest.WriteFile(t, files.Cert, certstest.CertPEM(renewed.Chain...))
	certstest.WriteFile(t, files.Key, certstest.KeyPEM(t, renewed.Key))
	if err := m.Signal("a", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, m, "a", "SIGHUP: certificate reloaded", 10*time.Second)
	if !strings.Contains(m.Log("a"), "serial="+renewed.Cert.SerialNumber.String()) {
		t.Errorf("a's log does not name the renewed serial %s:\n%s", renewed.Cert.SerialNumber, tail(m.Log("a"), 20))
	}
	// a takes its conn down, so that it does not bring it up again
	// itself (auto: start) while strongSwan initiates.
	if out, err := m.CLI(ctx, "a", "conn", "down", "ssw"); err != nil {
		t.Fatalf("oemesh conn down ssw: %v\n%s", err, out)
	}
	if err := ssw.WaitGone(ctx, func(sa peers.IKESA) bool { return sa.Name == "oemesh" }); err != nil {
		t.Fatal(err)
	}
	mark := ssw.Log.Mark()
	if lines, err := ssw.Initiate(ctx, "oemesh", "host"); err != nil {
		t.Fatalf("strongSwan initiate: %v\n%s\n--- a's log:\n%s", err, strings.Join(lines, "\n"), tail(m.Log("a"), 40))
	}
	if line, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '`+regexp.QuoteMeta(certDNa)+`' with RSA\S* successful`)); err != nil {
		t.Errorf("strongSwan did not see a's renewed (RSA) certificate: %v", err)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	if n, out := pingFrom(ctx, b.Node, a.Addr4.String(), 3); n != 3 {
		t.Errorf("ping b→a through the cert conn: %d/3\n%s", n, out)
	}

	// A certificate from another CA with b's DN: refused.
	other := certstest.NewRoot(t, "other CA").Issue(t, certstest.Options{Subject: dnName("b")})
	if err := ssw.Terminate(ctx, "oemesh"); err != nil {
		t.Fatal(err)
	}
	if err := ssw.Reload(ctx, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{certSwanConn(a, b, other, ca.Cert)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssw.Initiate(ctx, "oemesh", "host"); err == nil {
		t.Error("strongSwan with a certificate from another CA brought the conn up")
	}
	waitLog(t, m, "a", "unknown_ca", 10*time.Second)
	for _, l := range strings.Split(m.Log("a"), "\n") {
		if strings.Contains(l, "unknown_ca") {
			t.Logf("a: %s", l)
			break
		}
	}
}
