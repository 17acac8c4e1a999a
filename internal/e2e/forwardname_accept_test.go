package e2e

import (
	"context"
	"crypto"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// Issue 16's acceptance through unbound's ipsecmod hook, with real DNS: the
// mesh's DNS host runs knotd, which signs the forward zone example. itself
// and takes TSIG-signed UPDATEs, and a validating unbound in front of it
// (lab.Mesh.ServeKnot). There is no reverse zone at all, and every daemon
// runs with dns.require_dnssec on: a key counts only if unbound validated
// it. Debian's unbound is built without ipsecmod, so the test does what
// the module does: it resolves the name through unbound and calls
// `oemesh dns hook` with the four arguments built from the answers.

// newHostKey gives a mesh host a fresh Ed25519 key, written where
// StartDaemon's configuration looks for it.
func newHostKey(t *testing.T, h *lab.MeshHost) crypto.Signer {
	t.Helper()
	key, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Key = key
	if err := dnskey.WriteHostKey(filepath.Join(h.Dir, "hostkey.pem"), key, true); err != nil {
		t.Fatal(err)
	}
	return key
}

// ipseckeyLine is a zone-file line: name's IPSECKEY with pub, gateway gw
// when valid.
func ipseckeyLine(t *testing.T, name string, precedence int, gw dnskey.Gateway, pub crypto.PublicKey) string {
	t.Helper()
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 60, Precedence: precedence, Gateway: gw, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return rr.String() + "\n"
}

// knotPolicies is hc's policies with knotd's address (the DNS host's IPv6
// address, 2001:db8:1::35: clearDNS's 2001:db8:1::53 is not the host's) in
// clear, so that a host's UPDATEs to it go clear from the first packet: a
// daemon exempts its resolvers (dns.servers) by itself, not the primary.
func knotPolicies(m *lab.Mesh, hc lab.HostConfig) lab.HostConfig {
	p := maps.Clone(hc.Policies)
	p["clear"] += m.Hosts["dns"].Addr6.String() + "\n"
	hc.Policies = p
	return hc
}

// ipseckeyRdata is the rdata of the IPSECKEY record that publishes pub at
// name, precedence 10 and no gateway, as knotc prints it.
func ipseckeyRdata(t *testing.T, name string, pub crypto.PublicKey) string {
	t.Helper()
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 60, Precedence: 10, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(rr.String())[4:], " ")
}

// publishing is the dns: lines that make oemeshd publish its IPSECKEY and
// its address at its forward name (the @fqdn identity) at start.
func publishing(tsigKey string, addr fmt.Stringer) string {
	return fmt.Sprintf("  publish:\n    records: [forward, address]\n    addresses: [%s]\n    tsig_key: %s\n    ttl: 60s\n", addr, tsigKey)
}

// waitPublished waits until knot holds an IPSECKEY at name and unbound
// serves it validated.
func waitPublished(t *testing.T, m *lab.Mesh, ctx context.Context, z *peers.KnotZone, host, name string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := z.Read(t, name, "IPSECKEY"); got != "" {
			r, err := m.Query(ctx, host, name, dns.TypeIPSECKEY)
			if err == nil && r.AuthenticatedData && len(r.Answer) > 0 {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's IPSECKEY never appeared at %s; %s's log:\n%s", host, name, host, tail(m.Log(host), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hook resolves name through the mesh's unbound from host, checks that
// unbound validated the answers as want says, and calls `oemesh dns hook`
// on host with the arguments ipsecmod would pass.
func hook(t *testing.T, m *lab.Mesh, ctx context.Context, host, name string, secure bool) (string, error) {
	t.Helper()
	h, err := m.ResolveForHook(ctx, host, name)
	if err != nil {
		t.Fatal(err)
	}
	if h.Secure != secure {
		t.Fatalf("%s through unbound: AD=%v, want %v", name, h.Secure, secure)
	}
	return m.CLI(ctx, host, h.Args()...)
}

func bindings(t *testing.T, m *lab.Mesh, ctx context.Context, host string) (control.BindingList, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "dns", "bindings", "--json")
	var l control.BindingList
	if err != nil {
		t.Fatalf("oemesh dns bindings on %s: %v\n%s", host, err, out)
	}
	if err := decodeStrict([]byte(out), &l); err != nil {
		t.Fatalf("oemesh dns bindings on %s: %v\n%s", host, err, out)
	}
	return l, out
}

// TestForwardNameAcceptanceHook: B (identity @b.example) publishes its own
// IPSECKEY and address at b.example. by DNS UPDATE at start, and so does A
// (@a.example). A resolves b.example. through the validating unbound (AD
// set), hands the answer to oemeshd with `oemesh dns hook`, and pings B:
// the first packet is answered, only ESP crosses the wire, and `oemesh
// traffic` on A shows the peer as @b.example. B verifies A through
// a.example.'s key: neither key is at a reverse name, since there is no
// reverse zone.
func TestForwardNameAcceptanceHook(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{}})
	ctx := ctxT(t, 60*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	z := m.ServeKnot(t, "example.", peers.KnotOptions{TTL: 60})
	tsig := z.KeyFile(t)
	aKey, bKey := newHostKey(t, a), newHostKey(t, b)

	// knotd, the primary our UPDATEs go to, is in clear like the resolver.
	responder, initiator := knotPolicies(m, responder), knotPolicies(m, initiator)
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, RequireDNSSEC: true,
		Extra: "identity: \"@b.example\"\n", DNS: publishing(tsig, b.Addr4)})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, RequireDNSSEC: true,
		Extra: "identity: \"@a.example\"\noe:\n  null_auth: \"off\"\n", DNS: publishing(tsig, a.Addr4)})
	for _, p := range []struct {
		host, name string
		key        crypto.Signer
	}{{"b", "b.example.", bKey}, {"a", "a.example.", aKey}} {
		got := waitPublished(t, m, ctx, z, p.host, p.name)
		want := ipseckeyRdata(t, p.name, p.key.Public())
		if !strings.Contains(got, want) {
			t.Fatalf("knot holds at %s:\n%s\nwant %s's key %s", p.name, got, p.host, want)
		}
		if got := z.Read(t, p.name, "A"); !strings.Contains(got, m.Hosts[p.host].Addr4.String()) {
			t.Fatalf("knot holds A %s: %q", p.name, got)
		}
	}

	if out, err := hook(t, m, ctx, "a", "b.example.", true); err != nil {
		t.Fatalf("oemesh dns hook: %v\n%s", err, out)
	}
	if l, out := bindings(t, m, ctx, "a"); len(l.Bindings) != 1 || l.Bindings[0].Addr != b.Addr4.String() ||
		l.Bindings[0].Name != "b.example." || !l.Bindings[0].Secure {
		t.Fatalf("oemesh dns bindings on a: want b's address bound to b.example., secure:\n%s", out)
	}

	c := capture(t, m)
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 5 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP) + counts.Between(a.Addr4, b.Addr4, lab.KindESPinUDP); n == 0 {
		t.Errorf("no ESP between a and b")
	}
	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on a, want peer @b.example authenticated by key:\n%s", out)
	}
	if out, _ := m.CLI(ctx, "a", "traffic"); !strings.Contains(out, "@b.example") {
		t.Errorf("oemesh traffic on a does not show @b.example:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "b"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.PeerID == "@a.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on b, want peer @a.example authenticated by key:\n%s", out)
	}
}
