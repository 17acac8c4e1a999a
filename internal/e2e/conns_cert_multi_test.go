package e2e

import (
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// TestConnCertStrongSwanTwoCAs: a's oemeshd has two cert conns, each with
// its own certificate from its own CA, to two strongSwan 5.9.8 peers (on b
// and c), each of which trusts only its own CA; oe.cert (from a third CA)
// is set at the same time. oemeshd brings both up (auto: start), each
// authenticating with its conn's certificate, and pings flow through
// both. Then c initiates: a answers with the certificate of c's conn
// (chosen by the IDr and CERTREQ c sends), and pings flow again.
func TestConnCertStrongSwanTwoCAs(t *testing.T) {
	in := peers.Require(t)
	ctx := ctxT(t, 150*time.Second)
	m := newMesh(t, lab.MeshOptions{})
	a, b, c := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"]
	caB, caC, caOE := certstest.NewRoot(t, "b's CA"), certstest.NewRoot(t, "c's CA"), certstest.NewRoot(t, "OE CA")
	const dnAb, dnAc, dnC = "C=XX, O=oemesh test, CN=a for b", "C=XX, O=oemesh test, CN=a for c", "C=XX, O=oemesh test, CN=c"
	forB := certstest.WritePEM(t, filepath.Join(a.Dir, "pki-b"), "a", caB.Issue(t, certstest.Options{Subject: dnName("a for b")}))
	forC := certstest.WritePEM(t, filepath.Join(a.Dir, "pki-c"), "a", caC.Issue(t, certstest.Options{Subject: dnName("a for c"), Key: certstest.RSA2048}))
	oeFiles := certstest.WritePEM(t, filepath.Join(a.Dir, "pki-oe"), "oe", caOE.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "a.example"}, DNSNames: []string{"a.example"}}))

	swanB := certSwanConn(a, b, caB.Issue(t, certstest.Options{Subject: dnName("b")}), caB.Cert)
	swanB.Remote.ID = dnAb
	swanC := certSwanConn(a, c, caC.Issue(t, certstest.Options{Subject: dnName("c")}), caC.Cert)
	swanC.Local.ID, swanC.Remote.ID = dnC, dnAc
	sswB := peers.StartStrongSwan(t, in, b.Node.NSName, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{swanB}})
	sswC := peers.StartStrongSwan(t, in, c.Node.NSName, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{swanC}})
	conn := func(name string, remote fmt.Stringer, f certstest.Files, remoteID string) string {
		return fmt.Sprintf(`  - name: %s
    local: %s
    remote: %s
    auth: cert
    cert: %s
    key: %s
    ca: %s
    remote_id: %q
    keying_tries: 0
    auto: start
`, name, a.Addr4, remote, f.Cert, f.Key, f.CAs[0], remoteID)
	}
	start(t, m, ctx, "a", lab.HostConfig{Extra: "oe:\n  cert: " + oeFiles.Cert + "\n  cert_key: " + oeFiles.Key + "\nconns:\n" +
		conn("to-b", b.Addr4, forB, certDNb) + conn("to-c", c.Addr4, forC, dnC)})

	// oemeshd initiates both, each with its conn's certificate.
	for _, x := range []struct {
		conn string
		host *lab.MeshHost
		ssw  *peers.StrongSwan
		dn   string
		alg  string
	}{{"to-b", b, sswB, dnAb, "ECDSA"}, {"to-c", c, sswC, dnAc, "RSA"}} {
		waitConn(t, m, ctx, "a", x.conn, 30*time.Second, func(c control.ConnStatus) bool { return c.State == control.ConnUp })
		if n, out := pingFrom(ctx, a.Node, x.host.Addr4.String(), 3); n != 3 {
			t.Errorf("ping a→%s through conn %s: %d/3\n%s", x.host.Addr4, x.conn, n, out)
		}
		sa, err := x.ssw.WaitEstablished(ctx, "oemesh", "host")
		if err != nil {
			t.Fatalf("strongSwan of conn %s: %v\n--- a's log:\n%s", x.conn, err, tail(m.Log("a"), 40))
		}
		if sa.RemoteID != x.dn {
			t.Errorf("strongSwan of conn %s saw a as %q, want %q", x.conn, sa.RemoteID, x.dn)
		}
		if _, err := x.ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`authentication of '`+regexp.QuoteMeta(x.dn)+`' with `+x.alg+`\S* successful`)); err != nil {
			t.Errorf("strongSwan of conn %s did not authenticate a's %s certificate %q: %v", x.conn, x.alg, x.dn, err)
		}
	}

	// c initiates: a, as responder, must pick conn to-c's certificate
	// (c trusts only its CA), not the default oe.cert nor to-b's.
	if out, err := m.CLI(ctx, "a", "conn", "down", "to-c"); err != nil {
		t.Fatalf("oemesh conn down to-c: %v\n%s", err, out)
	}
	if err := sswC.WaitGone(ctx, func(sa peers.IKESA) bool { return sa.Name == "oemesh" }); err != nil {
		t.Fatal(err)
	}
	mark := sswC.Log.Mark()
	if lines, err := sswC.Initiate(ctx, "oemesh", "host"); err != nil {
		t.Fatalf("strongSwan on c initiate: %v\n%s\n--- a's log:\n%s", err, strings.Join(lines, "\n"), tail(m.Log("a"), 40))
	}
	if _, err := sswC.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '`+regexp.QuoteMeta(dnAc)+`' with RSA\S* successful`)); err != nil {
		t.Errorf("strongSwan on c, as initiator, did not authenticate a with conn to-c's certificate: %v", err)
	}
	if n, out := pingFrom(ctx, c.Node, a.Addr4.String(), 3); n != 3 {
		t.Errorf("ping c→a through conn to-c: %d/3\n%s", n, out)
	}
	// The conn to b stayed up throughout.
	if n, out := pingFrom(ctx, a.Node, b.Addr4.String(), 3); n != 3 {
		t.Errorf("ping a→b through conn to-b after c's initiation: %d/3\n%s", n, out)
	}
}
