package e2e

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// keyExchanges is what host's `oemesh traffic --json` says keyed its
// tunnels with peer: each tunnel's key exchanges, joined by spaces, and
// the whole output for a failure message.
func keyExchanges(t *testing.T, m *lab.Mesh, ctx context.Context, host string, peer netip.Addr) (string, string) {
	t.Helper()
	tns, out := traffic(t, m, ctx, host)
	var kes []string
	for _, tn := range tns {
		if tn.Peer == peer.String() {
			if want := strings.Contains(tn.KeyExchanges, "mlkem"); tn.QuantumResistant != want {
				t.Errorf("%s: tunnel with %s keyed by %s says quantum-resistant %v", host, peer, tn.KeyExchanges, tn.QuantumResistant)
			}
			kes = append(kes, tn.KeyExchanges)
		}
	}
	return strings.Join(kes, " "), out
}

// keyedBy checks that host's tunnels with peer were all keyed by want.
func keyedBy(t *testing.T, m *lab.Mesh, ctx context.Context, host string, peer netip.Addr, want, why string) {
	t.Helper()
	got, out := keyExchanges(t, m, ctx, host, peer)
	if got == "" || strings.Trim(strings.ReplaceAll(got, want, ""), " ") != "" {
		t.Errorf("%s: %s's tunnels with %s keyed by %q, want %s\n%s", why, host, peer, got, want, out)
	}
}

// pqConfig is the ike.pq setting as a HostConfig's Extra.
func pqConfig(mode string) string { return "ike:\n  pq: \"" + mode + "\"\n" }

// failures is host's status count of failed negotiations of class.
func failures(t *testing.T, m *lab.Mesh, ctx context.Context, host, class string) uint64 {
	t.Helper()
	out, err := m.CLI(ctx, host, "status", "--json")
	var st control.Status
	if err == nil {
		err = decodeStrict([]byte(out), &st)
	}
	if err != nil {
		t.Fatalf("oemesh status --json on %s: %v\n%s", host, err, out)
	}
	return st.Counts["failures:"+class]
}

// TestPQMesh: ike.pq between oemeshd hosts.
//   - Both at the default (prefer): the OE tunnel is hybrid, X25519 then
//     ML-KEM-768 in IKE_INTERMEDIATE, on both sides, and carries ESP.
//   - prefer to off: a classical tunnel, no additional exchange.
//   - require to off, private-or-clear: the peer answers NO_PROPOSAL_CHOSEN,
//     the failure shunt passes the flow in clear, and status counts the
//     failure by its notify.
//   - require to off, private: the failure shunt drops; not one cleartext
//     echo leaves.
//   - require to prefer: hybrid.
func TestPQMesh(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 150*time.Second)
	a, b, c, g := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"], m.Hosts["g"]
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "c", lab.HostConfig{Policies: responder.Policies, Extra: pqConfig("off")})
	start(t, m, ctx, "g", lab.HostConfig{Policies: responder.Policies, Extra: pqConfig("off")})
	start(t, m, ctx, "a", initiator)
	pkts := capture(t, m)

	tunnel := func(to *lab.MeshHost) {
		t.Helper()
		pkts.Reset()
		r := m.Ping(ctx, "a", to.Addr4, 4, 200*time.Millisecond)
		counts := pkts.Settled()
		if r.Received != 4 || !r.First {
			t.Errorf("ping a→%s: %d/%d answered, first %v\n%s", to.Addr4, r.Received, r.Sent, r.First, r.Output)
		}
		if n := counts.Between(a.Addr4, to.Addr4, lab.KindICMP); n != 0 {
			t.Errorf("a↔%s: %d cleartext ICMP packets", to.Addr4, n)
		}
		if n := counts.Between(a.Addr4, to.Addr4, lab.KindESP); n < 8 {
			t.Errorf("a↔%s: %d ESP packets, want ≥ 8 (%v)", to.Addr4, n, counts)
		}
	}

	// Default to default: hybrid, seen from both ends.
	tunnel(b)
	keyedBy(t, m, ctx, "a", b.Addr4, "x25519+mlkem768", "prefer to prefer")
	keyedBy(t, m, ctx, "b", a.Addr4, "x25519+mlkem768", "prefer to prefer")
	// prefer to off: classical.
	tunnel(c)
	keyedBy(t, m, ctx, "a", c.Addr4, "x25519", "prefer to off")
	keyedBy(t, m, ctx, "c", a.Addr4, "x25519", "prefer to off")

	// a again, requiring the hybrid, with g in its private group.
	if err := m.StopDaemon("a", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start(t, m, ctx, "a", lab.HostConfig{
		Policies: map[string]string{"private-or-clear": lan, "clear": clearDNS, "private": g.Addr4.String() + "\n"},
		Extra:    pqConfig("require"),
	})

	// private-or-clear, classical peer: the failure shunt, clear.
	r := m.Ping(ctx, "a", c.Addr4, 3, 300*time.Millisecond)
	if r.Received < 2 {
		t.Errorf("require to off, private-or-clear: %d/3 answered, want the clear failure shunt\n%s", r.Received, r.Output)
	}
	ss, out := shunts(t, m, ctx, "a")
	if !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Kind == control.ShuntPass && (s.Dst == c.Addr4.String() || s.Src == c.Addr4.String())
	}) {
		t.Errorf("a has no pass shunt for c:\n%s", out)
	}
	if n := failures(t, m, ctx, "a", "peer-NO_PROPOSAL_CHOSEN"); n < 1 {
		t.Errorf("a's status counts %d NO_PROPOSAL_CHOSEN failures, want c's", n)
	}
	t.Logf("a's shunts:\n%s", out)

	// private, classical peer: drop, nothing in clear.
	pkts.Reset()
	r = m.Ping(ctx, "a", g.Addr4, 3, 300*time.Millisecond)
	if r.Received != 0 {
		t.Errorf("require to off, private: %d echoes answered\n%s", r.Received, r.Output)
	}
	if n := pkts.Settled().From(a.Addr4, g.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("private group leaked %d cleartext echoes a→g", n)
	}
	ss, out = shunts(t, m, ctx, "a")
	if !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Kind == control.ShuntDrop && (s.Dst == g.Addr4.String() || s.Src == g.Addr4.String())
	}) {
		t.Errorf("a has no drop shunt for g:\n%s", out)
	}
	if n := failures(t, m, ctx, "a", "peer-NO_PROPOSAL_CHOSEN"); n < 2 {
		t.Errorf("a's status counts %d NO_PROPOSAL_CHOSEN failures, want c's and g's", n)
	}

	// require to prefer: hybrid.
	tunnel(b)
	keyedBy(t, m, ctx, "a", b.Addr4, "x25519+mlkem768", "require to prefer")
	if t.Failed() {
		for _, h := range []string{"a", "c"} {
			t.Logf("%s's log:\n%s", h, logTail(m.Log(h), 60))
		}
	}
}

// logTail is the last n lines of a log.
func logTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
