package interopvm

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// serverCertNick is the server certificate's nickname in pluto's NSS db:
// what leftcert= names (the example: "name of your generated letsencrypt
// certificate e.g. letsencrypt.libreswan.org").
const serverCertNick = "l.oe.test"

// TestInVMOemeshdCertOEClient: oemeshd as the certificate OE client
// (oe.trust_certificates: ca-file, Libreswan's server in private-or-clear,
// no key in DNS for it) against Libreswan's oe-letsencrypt-server.conf
// (leftcert= a certificate from a local test CA in place of Let's
// Encrypt's, leftid=%fromcert, sendca=issuer, rightauth=null,
// rightaddresspool=100.64.0.1-100.64.255.254, rightmodecfgclient=yes).
// oemeshd authenticates with NULL and holds the certificate to the
// destination: the name its DNS stub bound to Libreswan's address or,
// without a binding, a SAN iPAddress equal to that address.
//
//   - direct: no NAT, so oemeshd asks for no address (no CP) and
//     proposes transport mode; pluto's server does not insist on a lease
//     (no FAILED_CP_REQUIRED: "connection has no lease") and answers in
//     tunnel mode ("policy dictates Tunnel Mode, ignoring peer's request
//     for Transport Mode"), which oemeshd accepts: a tunnel between the
//     two hosts' own addresses, without CAT;
//   - behind-nat: oemeshd's host is behind a masquerading router: NAT-T
//     (ESP-in-UDP), oemeshd asks for an address, pluto leases 100.64.0.1
//     and oemeshd translates its traffic to it (CAT on xfrm: the
//     Local→Peer policy and the oemesh_cat_* nftables table); Libreswan's
//     host pings the lease;
//   - by-name: oemeshd's DNS stub resolves l.oe.test first, and binds the
//     address to the name (no key); the server's certificate names only
//     l.oe.test, no address: oemeshd checks the name the application
//     asked for;
//   - wrong-name: the server's certificate is valid but names another host
//     (no SAN for Libreswan's address): oemeshd refuses it
//     (cert-id_mismatch) and the flow gets private-or-clear's clear shunt.
//
// The tunnels are proved as proveESP does: oemeshd's host pings
// Libreswan's address, Libreswan's host pings oemeshd's inner address in
// the SAs (its own, or the lease).
func TestInVMOemeshdCertOEClient(t *testing.T) {
	in, files := needVM(t)
	t.Parallel()
	for _, c := range []certOEClient{
		{name: "direct"}, {name: "behind-nat", nat: true}, {name: "by-name", byName: true}, {name: "wrong-name", wrongName: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			certOEClientCase(t, in, files, c)
		})
	}
}

// certOEClient is one case of TestInVMOemeshdCertOEClient.
type certOEClient struct {
	name string
	// nat puts oemeshd's host behind a masquerading router.
	nat bool
	// byName: oemeshd's DNS stub resolves l.oe.test before the ping, and
	// the server's certificate names only l.oe.test (no address SAN).
	byName bool
	// wrongName: the server's certificate names another host.
	wrongName bool
}

// serverName is Libreswan's host's DNS name, in its certificate.
const serverName = "l.oe.test"

func certOEClientCase(t *testing.T, in *peers.Install, files string, c certOEClient) {
	nat, wrongName := c.nat, c.wrongName
	st := newStages(t)
	var b *bed
	if nat {
		b = newNATBed(t, oemeshdBehindNAT)
	} else {
		b = newBed(t)
	}
	// left=%defaultroute needs a default route with a gateway (pluto: "must
	// specify host IP address for our side" without one): oemeshd's host,
	// or the router in front of it. The lease is reached through it, and
	// the SA's policy.
	if out, err := b.l.Command(context.Background(), "ip", "route", "add", "default", "via", addrO.String(), "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("default route on Libreswan's host: %v\n%s", err, out)
	}
	// The lab's DNS: no key anywhere; Libreswan's name has its address.
	dnsSrv := lab.NewDNSServer(2)
	rr, err := dns.NewRR(serverName + ". 60 IN A " + addrL.String())
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv.Add(rr)
	d, err := dnsSrv.Start(b.o, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dnsSrv.Close() })

	root := certstest.NewRoot(t, "oemesh interop root")
	inter := root.NewIntermediate(t, "oemesh interop issuer")
	opts := certstest.Options{Key: certstest.RSA2048, Subject: pkix.Name{CommonName: serverName},
		DNSNames: []string{serverName}, IPs: []netip.Addr{addrL}}
	if c.byName {
		opts.IPs = nil
	}
	if wrongName {
		opts = certstest.Options{Key: certstest.RSA2048, Subject: pkix.Name{CommonName: "other.oe.test"},
			DNSNames: []string{"other.oe.test"}, IPs: []netip.Addr{netip.MustParseAddr("198.18.0.99")}}
	}
	srv := inter.Issue(t, opts)
	caFile := filepath.Join(t.TempDir(), "oe-ca.pem")
	certstest.WriteFile(t, caFile, certstest.CertPEM(srv.Root))

	lsw := peers.StartLibreswan(t, in, b.l.NSName, peers.LibreswanConfig{
		Conns:    []peers.LibreswanConn{letsencryptServerConn()},
		Policies: map[string][]string{"clear-or-private": {addrO.String() + "/32"}},
		Certs: map[string]peers.LibreswanCert{
			serverCertNick: {PEM: certstest.CertPEM(srv.Chain...), KeyPEM: certstest.KeyPEM(t, srv.Key)},
		},
		PlutoDebug: "base",
	})
	// A DNS failure gives the flow its failure shunt, never certificate OE:
	// the lab's server runs in this test process, which shares the guest's
	// CPUs (TCG) with every parallel case, so its answers get 5 s, not 1 s.
	dnsOpts := dnsOptions{Timeout: 5 * time.Second}
	if c.byName {
		dnsOpts.Stub = netip.MustParseAddrPort("127.0.0.53:53")
	}
	o := startOemeshdDNS(t, files, b.o, d, dnsOpts, filepath.Join(files, "rsa-hostkey.pem"),
		map[string]string{"private-or-clear": addrL.String() + "/32"},
		"oe:\n  null_auth: fallback\n  trust_certificates: ca-file\n  trust_ca: "+caFile+"\n")
	checkXFRM(t, o)
	st.done("namespaces, pluto and oemeshd started")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	capt := startCapture(t, b)
	mark := lsw.Log.Mark()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pluto's log lines other than debugging, since the first ping:\n%s",
				strings.Join(lsw.Log.LinesFrom(mark, plutoEvent), "\n"))
		}
	})
	if c.byName {
		resolveViaStub(t, ctx, o, b.o, dnsOpts.Stub)
	}
	// The first packet hits oemeshd's trap: no key in DNS, so certificate OE.
	_, _ = ping(ctx, b.o, addrL, 1)

	if wrongName {
		certOEClientRefused(t, ctx, b, o, lsw, capt, mark)
		return
	}
	tn := o.WaitTunnel(ctx, addrL)
	st.done("tunnel up")
	t.Logf("pluto's log on the exchange:\n%s", strings.Join(lsw.Log.LinesFrom(mark, plutoExchange), "\n"))
	line, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`))
	if err != nil {
		t.Fatalf("pluto did not establish a NULL-authenticated IKE SA with oemeshd: %v", err)
	}
	t.Log(line)
	cr, err := lsw.WaitChild(ctx, mark, addrO.String())
	if err != nil {
		t.Fatal(err)
	}
	if cr.Outcome != peers.ChildEstablished {
		t.Fatalf("pluto's CHILD SA with oemeshd: %v %s %v; want established", cr.Outcome, cr.Notify, cr.Lines)
	}
	// pluto's server asks for no address: without a NAT oemeshd requests
	// none (no CP), and pluto does not answer FAILED_CP_REQUIRED.
	if strings.Contains(o.Log(), "the responder requires an address request") {
		t.Error("oemeshd's log shows pluto requiring an address (FAILED_CP_REQUIRED); pluto 4.10 was not seen to")
	}

	// oemeshd's view: the certificate; behind the NAT the lease, as the
	// tunnel's local selector.
	raw, err := o.CLI(ctx, "traffic", "--json")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("oemesh traffic --json on oemeshd's host:\n%s", raw)
	inner, vips, kind := addrO, []string(nil), lab.KindESP
	if nat {
		inner, vips, kind = leased, []string{leased.String()}, lab.KindESPinUDP
	}
	if !tn.Initiator || tn.Auth != control.AuthCert || tn.Mode != control.ModeTunnel ||
		!slices.Equal(tn.Local, []string{inner.String() + "-" + inner.String()}) || !slices.Equal(tn.VirtualIPs, vips) {
		t.Errorf("oemeshd's tunnel: %+v; want an initiator's cert tunnel in tunnel mode from %s, virtual IPs %v", tn, inner, vips)
	}
	// By name, the certificate has no address SAN: the bound name is what matched.
	wantIPs := []string{addrL.String()}
	if c.byName {
		wantIPs = nil
	}
	if pc := tn.PeerCert; pc == nil || pc.Subject != "CN="+serverName || !strings.Contains(pc.Issuer, "oemesh interop issuer") ||
		!slices.Equal(pc.DNSNames, []string{serverName}) || !slices.Equal(pc.IPAddresses, wantIPs) {
		t.Errorf("oemeshd's tunnel: peer_cert %+v; want Libreswan's certificate (CN=%s, the intermediate, SANs %s %v)", pc, serverName, serverName, wantIPs)
	}
	// The server's view: the lease after the peer ("...198.18.0.2===100.64.0.1/32").
	if ls := lswTraffic(t, ctx, lsw); strings.Contains(ls.Line, "==="+leased.String()+"/32") != nat {
		t.Errorf("pluto's trafficstatus: %s; want the lease %s %v", ls.Line, leased, map[bool]string{true: "after the peer", false: "absent"}[nat])
	}
	// CAT on xfrm behind the NAT: the nftables table and the Local→Peer
	// policy; without a lease, neither.
	checkCATOnXFRM(t, ctx, b.o, nat)
	st.done("IKE and CHILD SAs up, lease and CAT checked")

	proveESPPings(t, ctx, b, capt, lsw, o, []pingTo{{b.o, addrL}, {b.l, inner}}, kind)
	st.done("traffic proved")
}

// certOEClientRefused: oemeshd refused the certificate for another name,
// counted it, and set private-or-clear's clear shunt; no tunnel is up on
// either end (pluto, whose IKE_AUTH response had already made its CHILD
// SA, deletes it when oemeshd deletes the IKE SA), and the pings go in
// clear.
func certOEClientRefused(t *testing.T, ctx context.Context, b *bed, o *oemeshd, lsw *peers.Libreswan, capt *lab.Capture, mark int64) {
	t.Helper()
	for {
		st := o.Status(ctx)
		if st.Counts["failures:cert-id_mismatch"] > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("oemeshd counted no cert-id_mismatch failure: %v; counts %v", ctx.Err(), st.Counts)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("pluto's log on the exchange:\n%s", strings.Join(lsw.Log.LinesFrom(mark, plutoExchange), "\n"))
	out, err := o.CLI(ctx, "shunts", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ss []control.ShuntStatus
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Fatalf("oemesh shunts --json: %v\n%s", err, out)
	}
	if !slices.ContainsFunc(ss, func(s control.ShuntStatus) bool {
		return s.Dst == addrL.String() && s.Kind == control.ShuntPass && s.Group == control.GroupPrivateOrClear
	}) {
		t.Errorf("oemesh shunts: want private-or-clear's pass shunt to %s:\n%s", addrL, out)
	}
	if ts := o.Traffic(ctx); len(ts) != 0 {
		t.Errorf("oemeshd has tunnels after refusing the certificate: %+v", ts)
	}
	for {
		ts, err := lsw.TrafficStatus(ctx)
		if err == nil && len(ts) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pluto keeps a CHILD SA with oemeshd after oemeshd refused its certificate: %+v (%v)", ts, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got, out := ping(ctx, b.o, addrL, 3); got != 3 {
		t.Errorf("ping %s in clear after the refusal: %d of 3 answered\n%s", addrL, got, out)
	}
	counts := capt.Stop()
	if n := counts.Between(addrL, addrO, lab.KindICMP); n < 6 {
		t.Errorf("capture: %d cleartext ICMP packets between the hosts; want the 3 echoes and replies in clear (%v)", n, counts)
	}
}

// resolveViaStub resolves serverName through oemeshd's DNS stub in node
// (drill, as an application would) and waits until oemeshd has bound
// Libreswan's address to the name (with no key: certificate OE's binding).
func resolveViaStub(t *testing.T, ctx context.Context, o *oemeshd, node *lab.Node, stub netip.AddrPort) {
	t.Helper()
	out, err := node.Command(ctx, "drill", "-p", strconv.Itoa(int(stub.Port())), "@"+stub.Addr().String(), serverName, "A").CombinedOutput()
	if err != nil || !strings.Contains(string(out), addrL.String()) {
		t.Fatalf("drill %s through oemeshd's stub: %v; want %s\n%s", serverName, err, addrL, out)
	}
	for {
		raw, err := o.CLI(ctx, "--json", "dns", "bindings")
		if err != nil {
			t.Fatal(err)
		}
		var bl control.BindingList
		if err := json.Unmarshal([]byte(raw), &bl); err != nil {
			t.Fatalf("oemesh dns bindings --json: %v\n%s", err, raw)
		}
		if slices.ContainsFunc(bl.Bindings, func(b control.Binding) bool {
			return b.Addr == addrL.String() && b.Name == serverName+"." && len(b.Keys) == 0
		}) {
			t.Logf("oemesh dns bindings --json:\n%s", raw)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("oemeshd did not bind %s to %s: %v\n%s", addrL, serverName, ctx.Err(), raw)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkCATOnXFRM checks whether node's kernel has oemeshd's CAT for the
// lease and Libreswan's address (want), or nothing of it: an oemesh_cat_*
// nftables table that translates the inner host 10.1.0.2 to the lease and
// back, and the policy from 10.1.0.2 to Libreswan.
func checkCATOnXFRM(t *testing.T, ctx context.Context, node *lab.Node, want bool) {
	t.Helper()
	local := natInner
	nft, err := node.Command(ctx, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset on oemeshd's host: %v\n%s", err, nft)
	}
	t.Logf("oemeshd's host, nft list ruleset:\n%s", nft)
	if !want {
		if strings.Contains(string(nft), "oemesh_cat_") {
			t.Error("oemeshd's host has a CAT table without a lease")
		}
		return
	}
	if !strings.Contains(string(nft), "table ip oemesh_cat_") || !strings.Contains(string(nft), "snat to "+leased.String()) ||
		!strings.Contains(string(nft), "dnat to "+local.String()) {
		t.Errorf("oemeshd's host: no oemesh_cat_* table translating %s to %s and back", local, leased)
	}
	pol, err := node.Command(ctx, "ip", "xfrm", "policy").CombinedOutput()
	if err != nil {
		t.Fatalf("ip xfrm policy on oemeshd's host: %v\n%s", err, pol)
	}
	t.Logf("oemeshd's host, ip xfrm policy:\n%s", pol)
	re := regexp.MustCompile(`src ` + regexp.QuoteMeta(local.String()) + `/32 dst ` + regexp.QuoteMeta(addrL.String()) + `/32 *\n\s+dir out`)
	if !re.Match(pol) {
		t.Errorf("oemeshd's host: no outbound policy %s → %s (CAT's Local→Peer)", local, addrL)
	}
}

// plutoExchange picks pluto's log lines that tell what Libreswan's server
// did: its events (not plutodebug's "| ..." lines), and the debugging
// lines on CERTREQ, CP and leases.
var plutoExchange = regexp.MustCompile(`^\w{3} [ \d]\d [\d:.]+: ([^|]|\| .*(CERTREQ|sending \[CERT\]|bytes of CERT into|v2CP|[Ll]ease|FAILED_CP))`)

// letsencryptServerConn is Libreswan's oe-letsencrypt-server.conf with
// leftcert= naming the test certificate. _updown is named by path (the
// harness disables updown unless told; the example has the default).
func letsencryptServerConn() peers.LibreswanConn {
	return peers.LibreswanConn{
		Name: "clear-or-private",
		Left: "%defaultroute", LeftID: "%fromcert", LeftRSASigKey: "%cert", LeftAuth: "rsasig",
		Right: "%opportunisticgroup", RightID: "%null", RightAuth: "null",
		NegotiationShunt: "passthrough", FailureShunt: "passthrough", Type: "tunnel", IKEv2: "insist", Auto: "add",
		Updown: "/usr/libexec/ipsec/_updown",
		Extra: []string{"leftcert=" + serverCertNick, "sendca=issuer",
			"rightaddresspool=100.64.0.1-100.64.255.254", "rightmodecfgclient=yes"},
	}
}
