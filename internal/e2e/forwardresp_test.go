package e2e

import (
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// forwardKey gives a host a fresh key, writes it as its host key and
// publishes pub (its own key when nil) at name, a forward name, and nowhere
// else. It returns the record's rdata as unbound's ipsecmod hook gets it.
func forwardKey(t *testing.T, m *lab.Mesh, host, name string, pub crypto.PublicKey) string {
	t.Helper()
	key := newHostKey(t, m.Hosts[host])
	if pub == nil {
		pub = key.Public()
	}
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 300, Precedence: 10, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	m.DNS.Add(rr)
	return strings.Join(strings.Fields(rr.String())[4:], " ")
}

// addRRs adds records, in zone-file syntax, to the mesh's DNS server.
func addRRs(t *testing.T, m *lab.Mesh, lines ...string) {
	t.Helper()
	for _, s := range lines {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.DNS.Add(rr)
	}
}

// TestForwardNameResponder: issue 16's responder side. Initiators that
// prove a forward name are verified by the responder through the
// IPSECKEY at that name; none of them publishes anything at its reverse
// name.
//   - A proves @a.example, its key is at a.example.: B (keyed at its
//     reverse name as usual) verifies A and the tunnel comes up, B's
//     `oemesh traffic` showing the peer @a.example authenticated by key.
//   - C proves @c.example, but c.example. holds another key: B refuses C,
//     no tunnel comes up on either side, and B's log names why.
//   - D is keyed only at d.example. and proves @d.example; A binds D's
//     address to d.example. with the hook: both ends are verified by
//     their forward names.
func TestForwardNameResponder(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"b"}})
	ctx := ctxT(t, 90*time.Second)
	a, b, c, d := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"], m.Hosts["d"]
	forwardKey(t, m, "a", "a.example.", nil)
	other, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	forwardKey(t, m, "c", "c.example.", other.Public())
	dRdata := forwardKey(t, m, "d", "d.example.", nil)

	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "d", lab.HostConfig{Policies: responder.Policies, Extra: "identity: \"@d.example\"\n"})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "identity: \"@a.example\"\noe:\n  null_auth: \"off\"\n"})
	start(t, m, ctx, "c", lab.HostConfig{Policies: initiator.Policies, Extra: "identity: \"@c.example\"\noe:\n  null_auth: \"off\"\n"})
	capt := capture(t, m)

	// A → B: B looks A's key up at a.example.
	r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := capt.Settled()
	if r.Received != 3 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("a→b: %d cleartext ICMP packets", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESP); n < 3 {
		t.Errorf("a→b: %d ESP packets from a, want the 3 echoes", n)
	}
	if ts, out := traffic(t, m, ctx, "b"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == a.Addr4.String() && tn.PeerID == "@a.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on b, want peer @a.example authenticated by key:\n%s\nB's log:\n%s", out, logTail(m.Log("b"), 40))
	}
	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String() && tn.PeerID == b.Addr4.String() && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on a, want peer %s authenticated by key:\n%s", b.Addr4, out)
	}
	if n := m.DNS.Queries("a.example."); n == 0 {
		t.Error("B never asked DNS for a.example.")
	}

	// C → B: c.example. publishes a key C does not hold.
	capt.Reset()
	m.Ping(ctx, "c", b.Addr4, 2, 300*time.Millisecond)
	if ts, out := traffic(t, m, ctx, "b"); hasTunnel(ts, func(tn control.TunnelStatus) bool { return tn.Peer == c.Addr4.String() }) {
		t.Errorf("b has a tunnel to c, whose forward name holds another key:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "c"); hasTunnel(ts, func(tn control.TunnelStatus) bool { return tn.Peer == b.Addr4.String() }) {
		t.Errorf("c has a tunnel to b:\n%s", out)
	}
	if n := capt.Settled().Between(c.Addr4, b.Addr4, lab.KindESP); n != 0 {
		t.Errorf("c→b: %d ESP packets, want none", n)
	}
	// IKE_AUTH comes from C's NAT-T port: on the userspace data plane
	// kernel.udp_encap (auto) moves IKE to 4500 after IKE_SA_INIT.
	if log := m.Log("b"); !strings.Contains(log, `msg="ike: IKE_AUTH refused" remote=`+c.Addr4.String()+`:4500 peer="ID_FQDN:\"c.example\"" notify=AUTHENTICATION_FAILED`) {
		t.Errorf("B's log does not say it refused @c.example's authentication:\n%s", logTail(log, 60))
	}
	if ss, out := shunts(t, m, ctx, "c"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Dst == b.Addr4.String() && s.Kind == control.ShuntPass && strings.Contains(s.Reason, "AUTHENTICATION_FAILED")
	}) {
		t.Errorf("oemesh shunts on c, want the clear shunt of a refused authentication:\n%s", out)
	}

	// A → D: both ends by forward name, D's bound by the hook.
	if out, err := m.CLI(ctx, "a", "dns", "hook", "d.example.", "300", d.Addr4.String(), dRdata); err != nil {
		t.Fatalf("oemesh dns hook: %v\n%s", err, out)
	}
	capt.Reset()
	r = m.Ping(ctx, "a", d.Addr4, 3, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts = capt.Settled()
	if r.Received != 3 || !r.First {
		t.Errorf("ping a→d: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, d.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("a→d: %d cleartext ICMP packets", n)
	}
	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == d.Addr4.String() && tn.PeerID == "@d.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on a, want peer @d.example authenticated by key:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "d"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == a.Addr4.String() && tn.PeerID == "@a.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on d, want peer @a.example authenticated by key:\n%s", out)
	}
}
