package e2e

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// TestCertificateOEClient is issue 22's acceptance of DNS-triggered
// certificate OE in the netns mesh, with real DNS: knotd signs the zone
// example., where www.example. is b's address and www2.example. c's, and
// neither has a key (there is no key in DNS at all). b and c run oemeshd
// as certificate OE servers (oe.cert from the test CA, oe.address_pool),
// b's certificate for www.example., c's for other.example.
//
//   - n sits behind a masquerading router (natRouted), with the userspace
//     data plane, the DNS stub and oe.trust_certificates: ca-file. Its
//     application resolves www.example. through the stub, which binds b's
//     address to the name alone, and pings b. n authenticates with NULL,
//     b with its certificate, which names www.example.; behind the NAT n
//     asks for an address and gets 100.64.0.1, and its pings leave
//     translated to it (CAT): b sees the lease, the wire between the
//     router and b carries only ESP-in-UDP. `oemesh traffic` on n shows
//     b's certificate and the lease as n's.
//   - n resolves www2.example. and pings c: c's certificate, though
//     valid, names other.example.; n refuses it (id_mismatch, counted in
//     oemesh_cert_failures_total) and falls back as private-or-clear says:
//     clear, with the reason on the shunt.
//   - a, on the LAN without a NAT, resolves www.example. and pings b: the
//     certificate is accepted as for n, no address is asked for, and the
//     tunnel is b's own address in transport mode.
func TestCertificateOEClient(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{}})
	ctx := ctxT(t, 150*time.Second)
	a, b, c := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"]
	n, public := natRouted(t, m)
	newHostKey(t, a)
	newHostKey(t, b)
	newHostKey(t, c)

	root := certstest.NewRoot(t, "oemesh test root")
	inter := root.NewIntermediate(t, "oemesh test issuer")
	issue := func(name string) *certstest.Cert {
		return inter.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	}
	bFiles := certstest.WritePEM(t, filepath.Join(b.Dir, "certoe"), "server", issue("www.example"))
	cFiles := certstest.WritePEM(t, filepath.Join(c.Dir, "certoe"), "server", issue("other.example"))
	serveKnot(t, m, "example.", peers.KnotOptions{TTL: 60, Records: fmt.Sprintf("www.example. IN A %s\nwww2.example. IN A %s\n", b.Addr4, c.Addr4)})

	server := func(files certstest.Files) lab.HostConfig {
		return lab.HostConfig{Policies: knotPolicies(m, responder).Policies, RequireDNSSEC: true,
			Extra: "oe:\n  cert: " + files.Cert + "\n  cert_key: " + files.Key + "\n  address_pool: [100.64.0.1-100.64.0.9]\n"}
	}
	start(t, m, ctx, "b", server(bFiles))
	start(t, m, ctx, "c", server(cFiles))
	client := func(h *lab.MeshHost) lab.HostConfig {
		caFile := filepath.Join(h.Dir, "oe-ca.pem")
		certstest.WriteFile(t, caFile, certstest.CertPEM(root.Cert))
		return lab.HostConfig{
			Policies:      map[string]string{"private-or-clear": b.Addr4.String() + "\n" + c.Addr4.String() + "\n", "clear": clearDNS + m.Hosts["dns"].Addr6.String() + "\n"},
			RequireDNSSEC: true, StubListen: "127.0.0.53:53",
			Extra: "dataplane: userspace\nmetrics:\n  listen: \"127.0.0.1:9641\"\noe:\n  trust_certificates: ca-file\n  trust_ca: " + caFile + "\n",
		}
	}
	start(t, m, ctx, "n", client(n))
	start(t, m, ctx, "a", client(a))

	leased := "100.64.0.1"
	t.Run("behind-nat", func(t *testing.T) {
		resolveViaStub(t, n, "www.example.", b.Addr4, true)
		waitBound(t, m, ctx, "n", "www.example.", b.Addr4)
		cap := capture(t, m)
		r := m.Ping(ctx, "n", b.Addr4, 5, 200*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		counts := cap.Settled()
		if r.Received < 4 {
			t.Errorf("ping n→b: %d/%d answered\n%s\n--- n's log:\n%s", r.Received, r.Sent, r.Output, tail(m.Log("n"), 60))
		}
		t.Logf("on the LAN: %v", counts)
		if k := counts.Between(public, b.Addr4, lab.KindICMP); k != 0 {
			t.Errorf("%d cleartext ICMP packets between the router and b", k)
		}
		if k := counts.From(public, b.Addr4, lab.KindESPinUDP); k < 4 {
			t.Errorf("%d ESP-in-UDP packets from the router to b, want ≥ 4", k)
		}
		ts, out := traffic(t, m, ctx, "n")
		if !hasTunnel(ts, func(tn control.TunnelStatus) bool {
			return tn.Peer == b.Addr4.String() && tn.Auth == control.AuthCert && tn.Initiator && tn.Mode == control.ModeTunnel &&
				tn.PeerCert != nil && tn.PeerCert.Subject == "CN=www.example" && slices.Equal(tn.PeerCert.DNSNames, []string{"www.example"}) &&
				slices.Equal(tn.VirtualIPs, []string{leased}) && slices.Equal(tn.Local, []string{leased + "-" + leased})
		}) {
			t.Errorf("oemesh traffic on n: want b's certificate for www.example and the lease %s:\n%s\n--- n's log:\n%s", leased, out, tail(m.Log("n"), 40))
		}
		if text, _ := m.CLI(ctx, "n", "traffic"); !strings.Contains(text, "CN=www.example") || !strings.Contains(text, leased) {
			t.Errorf("oemesh traffic on n does not show the certificate and the lease:\n%s", text)
		}
		if text, _ := m.CLI(ctx, "n", "peers"); !strings.Contains(text, "CN=www.example") || !strings.Contains(text, leased+" (assigned to us)") {
			t.Errorf("oemesh peers on n does not show b's certificate and the lease:\n%s", text)
		}
		if ts, out := traffic(t, m, ctx, "b"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
			return tn.Peer == public.String() && tn.Auth == control.AuthNull && slices.Equal(tn.Remote, []string{leased + "-" + leased})
		}) {
			t.Errorf("oemesh traffic on b: want a NULL tunnel from %s for the lease %s:\n%s", public, leased, out)
		}
	})

	t.Run("other-name", func(t *testing.T) {
		resolveViaStub(t, n, "www2.example.", c.Addr4, true)
		waitBound(t, m, ctx, "n", "www2.example.", c.Addr4)
		cap := capture(t, m)
		r := m.Ping(ctx, "n", c.Addr4, 5, 200*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		counts := cap.Settled()
		if r.Received < 3 {
			t.Errorf("ping n→c: %d/%d answered; want the clear fallback\n%s", r.Received, r.Sent, r.Output)
		}
		if k := counts.Between(public, c.Addr4, lab.KindICMP); k == 0 {
			t.Errorf("no cleartext ICMP between the router and c: the fallback is clear (%v)", counts)
		}
		if ts, out := traffic(t, m, ctx, "n"); hasTunnel(ts, func(tn control.TunnelStatus) bool { return tn.Peer == c.Addr4.String() }) {
			t.Errorf("n has a tunnel to c, whose certificate names other.example:\n%s", out)
		}
		if ss, out := shunts(t, m, ctx, "n"); !hasShunt(ss, func(s control.ShuntStatus) bool {
			return s.Dst == c.Addr4.String() && s.Kind == control.ShuntPass && strings.Contains(s.Reason, "id_mismatch") &&
				strings.Contains(s.Reason, "www2.example")
		}) {
			t.Errorf("oemesh shunts on n: want a pass shunt to c whose reason names id_mismatch and www2.example:\n%s\n--- n's log:\n%s", out, tail(m.Log("n"), 40))
		}
		if metrics := scrapeIn(t, n.Node, "127.0.0.1:9641"); !strings.Contains(metrics, `oemesh_cert_failures_total{reason="id_mismatch"} 1`) {
			t.Errorf("n's metrics do not count the id_mismatch:\n%s", metrics)
		}
	})

	t.Run("no-nat", func(t *testing.T) {
		resolveViaStub(t, a, "www.example.", b.Addr4, true)
		waitBound(t, m, ctx, "a", "www.example.", b.Addr4)
		cap := capture(t, m)
		r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		counts := cap.Settled()
		if r.Received < 4 {
			t.Errorf("ping a→b: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
		}
		if k := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); k != 0 {
			t.Errorf("%d cleartext ICMP packets between a and b", k)
		}
		if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
			return tn.Peer == b.Addr4.String() && tn.Auth == control.AuthCert && tn.Mode == control.ModeTransport &&
				tn.PeerCert != nil && tn.PeerCert.Subject == "CN=www.example" && len(tn.VirtualIPs) == 0
		}) {
			t.Errorf("oemesh traffic on a: want b's certificate, transport mode, no lease:\n%s\n--- a's log:\n%s", out, tail(m.Log("a"), 40))
		}
	})
}

// waitBound waits until host's binding store holds addr under name.
func waitBound(t *testing.T, m *lab.Mesh, ctx context.Context, host, name string, addr netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, out := bindings(t, m, ctx, host)
		if slices.ContainsFunc(l.Bindings, func(b control.Binding) bool { return b.Name == name && b.Addr == addr.String() }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("oemesh dns bindings on %s: want %s bound to %s:\n%s\n--- %s's log:\n%s", host, addr, name, out, host, tail(m.Log(host), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
