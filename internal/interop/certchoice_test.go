package interop

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// strongSwan 5.9.8 → `oemesh respond` with two certificates from two
// CAs (--cert, --more-cert): charon's conn "one" asks for our subject DN
// in IDr and trusts the first CA, conn "two" asks for @two.example, a
// subjectAltName of the second certificate, and trusts only the second
// CA. Each gets the certificate it asked for (ike/certselect.go), with
// the IDr it asked for. charon's CERTREQ names the CAs of both, so only
// the IDr tells them apart.
func TestCertStrongSwanToRespondChoosesCert(t *testing.T) { testCertRespondChooses(t, certSSW5) }

// The same with strongSwan 6.1, over hybrid IKE SAs.
func TestCertStrongSwan6ToRespondChoosesCert(t *testing.T) { testCertRespondChooses(t, certSSW6) }

func testCertRespondChooses(t *testing.T, p certPeer) {
	in := p.require(t)
	oemesh(t)
	t.Parallel()
	pair := netnstest.NewPair(t, p.prefix+"c")
	sswIP, ourIP := net.IP(pair.A4.AsSlice()), net.IP(pair.B4.AsSlice())
	dir := t.TempDir()
	ca1, ca2 := newInteropCA(t), newInteropCANamed(t, "Second")
	k1, k2, kS := mustP256(t), mustP256(t), mustP256(t)
	ours1 := ca1.issue("oemesh", k1, ourIP, false)
	ours2 := ca2.interCA.Issue(t, certstest.Options{Subject: interopName("oemesh two"), Signer: k2, DNSNames: []string{"two.example"}}).Cert
	ssw := ca1.issue("ssw", kS, sswIP, false)
	local := peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: dnOf("ssw"), Key: kS, Certs: [][]byte{ssw.Raw, ca1.inter.Raw}}
	conn := func(name, remoteID string, ca *interopCA) peers.StrongSwanConn {
		return peers.StrongSwanConn{
			Name: name, LocalAddrs: []string{sswIP.String()}, RemoteAddrs: []string{ourIP.String()},
			Proposals: []string{p.ike}, SendCert: "ifasked", Local: local,
			Remote:   peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: remoteID, CACerts: [][]byte{ca.root.Raw}},
			Children: []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{"aes128gcm16"}}},
		}
	}
	charon := peers.StartStrongSwan(t, in, pair.A.Name, peers.StrongSwanConfig{Version: p.version,
		Conns: []peers.StrongSwanConn{conn("one", dnOf("oemesh"), ca1), conn("two", "@two.example", ca2)}})
	key1, _ := writeKey(t, dir, "one", k1)
	key2, _ := writeKey(t, dir, "two", k2)
	startRespond(t, pair.B, "--listen", pair.B4.String(), "--auth", "cert",
		"--cert", writeCerts(t, dir, "one.pem", ours1, ca1.inter), "--key", key1,
		"--more-cert", writeCerts(t, dir, "two.pem", ours2, ca2.inter)+","+key2,
		"--ca", writeCerts(t, dir, "root.pem", ca1.root), "--peer-id", dnOf("ssw"),
		"--ike", p.ike, "--esp", "aes128gcm16", "--send-cert", "ifasked")
	for _, tc := range []struct {
		conn, remoteID, subject string
	}{
		{"one", dnOf("oemesh"), dnOf("oemesh")},
		{"two", "two.example", dnOf("oemesh two")},
	} {
		t.Run(tc.conn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mark := charon.Log.Mark()
			if lines, err := charon.Initiate(ctx, tc.conn, "host"); err != nil {
				t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
			}
			sa, err := charon.WaitEstablished(ctx, tc.conn, "host")
			if err != nil {
				t.Fatal(err)
			}
			if sa.RemoteID != tc.remoteID {
				t.Errorf("charon's IKE SA %s has remote ID %q, want %q", tc.conn, sa.RemoteID, tc.remoteID)
			}
			for _, re := range []string{
				`using certificate "` + regexp.QuoteMeta(tc.subject) + `"`,
				`authentication of '` + regexp.QuoteMeta(tc.remoteID) + `' with ECDSA\S* successful`,
			} {
				if _, err := charon.Log.WaitFrom(ctx, mark, regexp.MustCompile(re)); err != nil {
					t.Errorf("strongSwan %v, conn %s: %v", p.version, tc.conn, err)
				}
			}
			if err := charon.Terminate(ctx, tc.conn); err != nil {
				t.Errorf("terminate: %v", err)
			}
		})
	}
}
