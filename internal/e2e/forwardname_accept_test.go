package e2e

import (
	"context"
	"crypto"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
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
// (serveKnot, knot_test.go). There is no reverse zone at all, and every
// daemon runs with dns.require_dnssec on: a key counts only if unbound
// validated it. Debian's unbound is built without ipsecmod, so the test does what
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
// address) in clear, so that a host's UPDATEs to it go clear from the
// first packet: a daemon exempts its resolvers (dns.servers) by itself, and
// the primary only when dns.publish.primary names it; here the primary is
// found through the SOA.
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

// resolveViaStub is an application on host h asking the DNS stub on
// 127.0.0.53 for name's A record, with the AD bit set in the query (RFC
// 6840 §5.7) so that a validating upstream's AD comes back; the answer
// must be want, and validated when the test's upstream validates
// (secure).
func resolveViaStub(t *testing.T, h *lab.MeshHost, name string, want netip.Addr, secure bool) {
	t.Helper()
	var resp *dns.Msg
	if err := h.Node.Do(func() error {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.AuthenticatedData = true
		var err error
		resp, _, err = (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, "127.0.0.53:53")
		return err
	}); err != nil {
		t.Fatalf("resolving %s through the stub: %v", name, err)
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("the stub answered %s without one A record:\n%v", name, resp)
	}
	if secure && !resp.AuthenticatedData {
		t.Fatalf("the stub answered %s without AD, want unbound's validated answer:\n%v", name, resp)
	}
	if a, ok := resp.Answer[0].(*dns.A); !ok || a.A.String() != want.String() {
		t.Fatalf("the stub answered %s with %v, want %s", name, resp.Answer[0], want)
	}
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
func TestForwardNameAcceptanceHook(t *testing.T) { forwardNameAcceptance(t, false) }

// TestForwardNameAcceptanceStub: the same with A's DNS stub instead of the
// hook. A's application resolves b.example. through the stub on A
// (127.0.0.53, forwarding to the validating unbound); the stub looks up
// the IPSECKEY at the name, binds B's address to it and prestarts OE. The
// answer carries AD as unbound gave it, the binding is secure, and the
// ping that follows is answered from its first packet over ESP.
func TestForwardNameAcceptanceStub(t *testing.T) { forwardNameAcceptance(t, true) }

// forwardNameAcceptance is issue 16's acceptance, through the hook or,
// with viaStub, through A's DNS stub.
func forwardNameAcceptance(t *testing.T, viaStub bool) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{}})
	ctx := ctxT(t, 60*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	z := serveKnot(t, m, "example.", peers.KnotOptions{TTL: 60})
	tsig := z.KeyFile(t)
	aKey, bKey := newHostKey(t, a), newHostKey(t, b)

	// knotd, the primary our UPDATEs go to, is in clear like the resolver.
	responder, initiator := knotPolicies(m, responder), knotPolicies(m, initiator)
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, RequireDNSSEC: true,
		Extra: "identity: \"@b.example\"\n", DNS: publishing(tsig, b.Addr4)})
	aConfig := lab.HostConfig{Policies: initiator.Policies, RequireDNSSEC: true,
		Extra: "identity: \"@a.example\"\noe:\n  null_auth: \"off\"\n", DNS: publishing(tsig, a.Addr4)}
	if viaStub {
		aConfig.StubListen = "127.0.0.53:53"
	}
	start(t, m, ctx, "a", aConfig)
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

	bound := func() (bool, string) {
		l, out := bindings(t, m, ctx, "a")
		return len(l.Bindings) == 1 && l.Bindings[0].Addr == b.Addr4.String() &&
			l.Bindings[0].Name == "b.example." && l.Bindings[0].Secure, out
	}
	if viaStub {
		resolveViaStub(t, a, "b.example.", b.Addr4, true)
		deadline := time.Now().Add(10 * time.Second)
		for ok, out := bound(); !ok; ok, out = bound() {
			if time.Now().After(deadline) {
				t.Fatalf("oemesh dns bindings on a: want b's address bound to b.example. by the stub, secure:\n%s\na's log:\n%s", out, tail(m.Log("a"), 40))
			}
			time.Sleep(50 * time.Millisecond)
		}
	} else {
		if out, err := hook(t, m, ctx, "a", "b.example.", true); err != nil {
			t.Fatalf("oemesh dns hook: %v\n%s", err, out)
		}
		if ok, out := bound(); !ok {
			t.Fatalf("oemesh dns bindings on a: want b's address bound to b.example., secure:\n%s", out)
		}
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
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n == 0 {
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

// TestForwardNameAcceptanceFailures: the hook's hard cases against the
// real servers, on one mesh. A (@a.example, key at a.example.) initiates.
//   - unsigned: u.lab.example. lies in an unsigned zone under an insecure
//     delegation (no DS), which unbound proves unsigned (no AD). Under
//     dns.require_dnssec the hook is refused, nothing is bound, and oemeshd
//     logs the refusal.
//   - gateway: e.example.'s IPSECKEY names G as its gateway, with G's key;
//     A's ping to E goes through a tunnel to G (as TestGateway, with the
//     key at the forward name instead of E's reverse name).
//   - three addresses, two keys: multi.example. has 3 A records and 2
//     IPSECKEYs (RSA and Ed25519); all 3 addresses are bound with both
//     keys, and C, which holds the Ed25519 one and proves @multi.example,
//     is reached encrypted.
//
// A TSIG key the server refuses is covered by cmd/oemesh's tests against
// the same knot: TestDNSPublishRefusedKey (BADKEY named, oemeshd keeps
// running and retrying).
func TestForwardNameAcceptanceFailures(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{}})
	ctx := ctxT(t, 60*time.Second)
	a, c, d, e, g := m.Hosts["a"], m.Hosts["c"], m.Hosts["d"], m.Hosts["e"], m.Hosts["g"]
	aKey, cKey, gKey := newHostKey(t, a), newHostKey(t, c), newHostKey(t, g)
	dKey, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := dnskey.GenerateHostKey(dnskey.HostKeyRSA, 2048)
	if err != nil {
		t.Fatal(err)
	}
	none := dnskey.Gateway{}
	multiAddrs := []string{c.Addr4.String(), d.Addr4.String(), "198.18.0.9"}
	records := ipseckeyLine(t, "a.example.", 10, none, aKey.Public()) +
		"e.example. IN A " + e.Addr4.String() + "\n" +
		ipseckeyLine(t, "e.example.", 10, dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: g.Addr4}, gKey.Public()) +
		ipseckeyLine(t, "multi.example.", 10, none, rsaKey.Public()) +
		ipseckeyLine(t, "multi.example.", 20, none, cKey.Public())
	for _, addr := range multiAddrs {
		records += "multi.example. IN A " + addr + "\n"
	}
	serveKnot(t, m, "example.", peers.KnotOptions{TTL: 60, Records: records, Unsigned: map[string]string{
		"lab": "u.lab.example. IN A " + d.Addr4.String() + "\n" + ipseckeyLine(t, "u.lab.example.", 10, none, dKey.Public()),
	}})

	start(t, m, ctx, "g", lab.HostConfig{Policies: knotPolicies(m, responder).Policies, RequireDNSSEC: true,
		Extra: "oe:\n  gateway_for: [198.18.1.0/24, \"2001:db8:2::/64\"]\n"})
	start(t, m, ctx, "c", lab.HostConfig{Policies: knotPolicies(m, responder).Policies, RequireDNSSEC: true,
		Extra: "identity: \"@multi.example\"\n"})
	start(t, m, ctx, "a", lab.HostConfig{Policies: knotPolicies(m, initiator).Policies, RequireDNSSEC: true,
		Extra: "identity: \"@a.example\"\noe:\n  null_auth: \"off\"\n"})

	t.Run("unsigned", func(t *testing.T) {
		out, err := hook(t, m, ctx, "a", "u.lab.example.", false)
		if err == nil || !strings.Contains(out, "dns.require_dnssec") {
			t.Errorf("oemesh dns hook for an unsigned name: want a refusal that names dns.require_dnssec, got %v:\n%s", err, out)
		}
		if l, out := bindings(t, m, ctx, "a"); slices.ContainsFunc(l.Bindings, func(b control.Binding) bool { return b.Name == "u.lab.example." }) {
			t.Errorf("u.lab.example. bound:\n%s", out)
		}
		if log := m.Log("a"); !strings.Contains(log, "u.lab.example") || !strings.Contains(log, "dns.require_dnssec") {
			t.Errorf("a's log does not record the refusal:\n%s", tail(log, 20))
		}
	})

	t.Run("gateway", func(t *testing.T) {
		if out, err := hook(t, m, ctx, "a", "e.example.", true); err != nil {
			t.Fatalf("oemesh dns hook: %v\n%s", err, out)
		}
		if l, out := bindings(t, m, ctx, "a"); !slices.ContainsFunc(l.Bindings, func(b control.Binding) bool {
			return b.Addr == e.Addr4.String() && b.Secure && len(b.Keys) == 1 && b.Keys[0].Gateway == g.Addr4.String()
		}) {
			t.Fatalf("oemesh dns bindings on a: want %s bound with gateway %s:\n%s", e.Addr4, g.Addr4, out)
		}
		cp := capture(t, m)
		r := m.Ping(ctx, "a", e.Addr4, 4, 200*time.Millisecond)
		if r.Received != 4 || !r.First {
			t.Errorf("a→e via g: %d/4, first %v\n%s", r.Received, r.First, r.Output)
		}
		counts := cp.Settled()
		if counts.From(a.Addr4, e.Addr4, lab.KindICMP) != 0 || counts.From(e.Addr4, a.Addr4, lab.KindICMP) != 0 {
			t.Errorf("cleartext a↔e on the LAN: %v", counts)
		}
		if counts.Between(a.Addr4, g.Addr4, lab.KindESP) < 8 {
			t.Errorf("ESP a↔g: %v", counts)
		}
		if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
			return tn.Peer == g.Addr4.String() && tn.Auth == control.AuthKey
		}) {
			t.Errorf("oemesh traffic on a, want a tunnel to the gateway %s:\n%s", g.Addr4, out)
		}
	})

	t.Run("three addresses two keys", func(t *testing.T) {
		if out, err := hook(t, m, ctx, "a", "multi.example.", true); err != nil {
			t.Fatalf("oemesh dns hook: %v\n%s", err, out)
		}
		l, out := bindings(t, m, ctx, "a")
		for _, addr := range multiAddrs {
			ok := slices.ContainsFunc(l.Bindings, func(b control.Binding) bool {
				if b.Addr != addr || b.Name != "multi.example." || !b.Secure || len(b.Keys) != 2 {
					return false
				}
				var algs []control.KeyAlgorithm
				for _, k := range b.Keys {
					algs = append(algs, k.Algorithm)
				}
				return slices.Equal(algs, []control.KeyAlgorithm{control.KeyRSA, control.KeyEdDSA})
			})
			if !ok {
				t.Errorf("oemesh dns bindings on a: want %s bound to multi.example. with the RSA and the Ed25519 key:\n%s", addr, out)
			}
		}
		cp := capture(t, m)
		r := m.Ping(ctx, "a", c.Addr4, 4, 200*time.Millisecond)
		if r.Received != 4 || !r.First {
			t.Errorf("a→c: %d/4, first %v\n%s", r.Received, r.First, r.Output)
		}
		counts := cp.Settled()
		if n := counts.Between(a.Addr4, c.Addr4, lab.KindICMP); n != 0 {
			t.Errorf("%d cleartext ICMP packets between a and c", n)
		}
		if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
			return tn.Peer == c.Addr4.String() && tn.PeerID == "@multi.example" && tn.Auth == control.AuthKey
		}) {
			t.Errorf("oemesh traffic on a, want peer @multi.example at %s:\n%s", c.Addr4, out)
		}
	})
}

// TestForwardNameAcceptanceDeadlock: issue 16's deadlock with the real
// resolver. A's private-or-clear range holds its resolver (unbound,
// 198.18.0.53) and knotd; nobody listed them in clear. With the
// exemption (dns.exempt_servers, the default) the name look-up, the hook
// (whose validating look-up goes to the same resolver) and the ping all go
// through at once: A's DNS crosses the wire as clear TCP and UDP, never
// IKE or ESP, and the ping is encrypted from its first packet. Without it,
// the application's own query to the resolver hits the trap, oemeshd
// negotiates with its resolver, which needs a look-up of its own, and
// gives up with a failure shunt toward it after DNS timed out: the case
// proves the exemption is what makes the first one work.
func TestForwardNameAcceptanceDeadlock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exempt bool
	}{{"exempt", true}, {"without-exemption", false}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t, lab.MeshOptions{Keyed: []string{}})
			ctx := ctxT(t, 60*time.Second)
			a, b, dnsHost := m.Hosts["a"], m.Hosts["b"], m.Hosts["dns"]
			aKey, bKey := newHostKey(t, a), newHostKey(t, b)
			serveKnot(t, m, "example.", peers.KnotOptions{TTL: 60, Records: ipseckeyLine(t, "a.example.", 10, dnskey.Gateway{}, aKey.Public()) +
				ipseckeyLine(t, "b.example.", 10, dnskey.Gateway{}, bKey.Public()) + "b.example. IN A " + b.Addr4.String() + "\n"})
			start(t, m, ctx, "b", lab.HostConfig{Policies: knotPolicies(m, responder).Policies, RequireDNSSEC: true,
				Extra: "identity: \"@b.example\"\n"})
			start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"private-or-clear": lan}, // the resolver too
				RequireDNSSEC: true, NoDNSExemption: !tc.exempt, Extra: "identity: \"@a.example\"\noe:\n  null_auth: \"off\"\n"})
			c := capture(t, m)

			began := time.Now()
			h, herr := m.ResolveForHook(ctx, "a", "b.example.")
			var hookOut string
			if herr == nil {
				hookOut, herr = m.CLI(ctx, "a", h.Args()...)
			}
			took := time.Since(began)
			r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
			time.Sleep(100 * time.Millisecond)
			counts := c.Settled()
			rtt, _ := firstRTT(r.Output)
			shunts := shuntsOn(t, m, "a")
			failed := func(dst netip.Addr) bool {
				return slices.ContainsFunc(shunts, func(s control.ShuntStatus) bool {
					return s.Dst == dst.String() && time.Until(s.Expires) > 10*time.Minute
				})
			}
			dnsIKE := counts.Between(a.Addr4, dnsHost.Addr4, lab.KindIKE) + counts.Between(a.Addr6, dnsHost.Addr6, lab.KindIKE)
			dnsESP := counts.Between(a.Addr4, dnsHost.Addr4, lab.KindESP) + counts.Between(a.Addr6, dnsHost.Addr6, lab.KindESP)
			detail := fmt.Sprintf("look-up and hook: %v in %v (%s)\nping: %d/%d, first %v in %v\ncapture %v\nshunts %+v",
				herr, took, hookOut, r.Received, r.Sent, r.First, rtt, counts, shunts)

			if !tc.exempt {
				delayed := herr != nil || took >= time.Second
				deadlocked := dnsIKE > 0 || failed(dnsHost.Addr4)
				if !delayed || !deadlocked {
					t.Errorf("without the exemption the deadlock did not happen (look-up delayed %v, IKE or failure shunt toward the resolver %v)\n%s",
						delayed, deadlocked, detail)
				}
				t.Logf("without the exemption:\n%s", detail)
				return
			}
			if herr != nil || took >= time.Second || !h.Secure {
				t.Errorf("look-up and hook through the exempt resolver: want both at once, validated\n%s", detail)
			}
			if r.Received != 5 || !r.First || rtt >= time.Second {
				t.Errorf("a→b: the first echo must be answered at once\n%s", detail)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
				t.Errorf("%d cleartext ICMP packets between a and b\n%s", n, detail)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 10 {
				t.Errorf("%d ESP packets between a and b, want ≥ 10\n%s", n, detail)
			}
			if n := counts.From(a.Addr4, dnsHost.Addr4, lab.KindClearTCP) + counts.From(a.Addr4, dnsHost.Addr4, lab.KindClearUDP); n == 0 {
				t.Errorf("no clear DNS from a to its resolver\n%s", detail)
			}
			if dnsIKE+dnsESP != 0 || failed(dnsHost.Addr4) || failed(b.Addr4) {
				t.Errorf("IKE, ESP or a failure shunt toward the resolver or b\n%s", detail)
			}
			if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
				return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example"
			}) {
				t.Errorf("oemesh traffic on a, want peer @b.example:\n%s", out)
			}
		})
	}
}
