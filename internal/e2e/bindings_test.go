package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestForwardNameHook: B publishes its key only at its forward name
// b.example. (nothing at its reverse name) and proves the identity
// @b.example (identity: in its configuration). Without a binding, A's
// ping to B goes clear: the reverse look-up finds no key. After A's
// `oemesh dns hook` with the arguments unbound's ipsecmod would pass, the
// same ping is encrypted from its first packet, only ESP crosses the
// wire, and A's `oemesh traffic` shows the peer as @b.example. B verifies
// A as before, through A's reverse record. B's other address, bound under
// another name, is refused: B does not prove that name.
func TestForwardNameHook(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a"}})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	// The rdata as unbound prints it: "10 0 4 . base64".
	rdata := forwardKey(t, m, "b", "b.example.", nil)

	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "identity: \"@b.example\"\n"})
	// A short shunt lifetime lets the same flow try again once bound.
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  null_auth: \"off\"\n  shunt_lifetime: 5s\n"})
	c := capture(t, m)

	r := m.Ping(ctx, "a", b.Addr4, 2, 200*time.Millisecond)
	if n := c.Settled().From(a.Addr4, b.Addr4, lab.KindICMP); n == 0 {
		t.Errorf("unbound: no cleartext echo a→b; want the clear fallback\n%s", r.Output)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Kind == control.ShuntPass && strings.Contains(s.Reason, "no key in DNS")
	}) {
		t.Errorf("unbound: oemesh shunts on a:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "a"); len(ts) != 0 {
		t.Errorf("unbound: a has tunnels:\n%s", out)
	}
	// The data plane reports the shunt's end once its trap is back.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(m.Log("a"), "shunt expired; trap is back\" src="+a.Addr4.String()+" dst="+b.Addr4.String()) {
		if time.Now().After(deadline) {
			t.Fatal("the clear shunt did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, err := m.CLI(ctx, "a", "dns", "hook", "b.example.", "300", b.Addr4.String(), rdata)
	if err != nil {
		t.Fatalf("oemesh dns hook: %v\n%s", err, out)
	}
	out, err = m.CLI(ctx, "a", "dns", "bindings", "--json")
	var l control.BindingList
	if err != nil || decodeStrict([]byte(out), &l) != nil || len(l.Bindings) != 1 || l.Bindings[0].Addr != b.Addr4.String() {
		t.Fatalf("oemesh dns bindings: %v\n%s", err, out)
	}

	c.Reset()
	r = m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 5 || !r.First {
		t.Errorf("bound: ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("bound: %d cleartext ICMP packets between a and b", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n == 0 {
		t.Errorf("bound: no ESP between a and b")
	}
	ts, out := traffic(t, m, ctx, "a")
	if !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example" && tn.Auth == control.AuthKey && tn.KeyExchanges == lab.DefaultKeyExchanges
	}) {
		t.Errorf("bound: oemesh traffic on a, want peer @b.example authenticated by key:\n%s", out)
	}
	if out, _ := m.CLI(ctx, "a", "traffic"); !strings.Contains(out, "@b.example") {
		t.Errorf("oemesh traffic on a does not show @b.example:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "b"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.PeerID == a.Addr4.String() && tn.Auth == control.AuthKey
	}) {
		t.Errorf("bound: oemesh traffic on b, want peer %s authenticated by key:\n%s", a.Addr4, out)
	}

	// B's IPv6 address bound under another name, with B's key: A expects
	// @wrong.example, B proves @b.example, and A refuses it.
	if out, err := m.CLI(ctx, "a", "dns", "hook", "wrong.example.", "300", b.Addr6.String(), rdata); err != nil {
		t.Fatalf("oemesh dns hook: %v\n%s", err, out)
	}
	m.Ping(ctx, "a", b.Addr6, 2, 200*time.Millisecond)
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Dst == b.Addr6.String() && s.Kind == control.ShuntPass && strings.Contains(s.Reason, "bound to @wrong.example")
	}) {
		t.Errorf("wrong name: oemesh shunts on a, want the clear shunt of a failed authentication:\n%s", out)
	}
	if ts, out := traffic(t, m, ctx, "a"); hasTunnel(ts, func(tn control.TunnelStatus) bool { return tn.Peer == b.Addr6.String() }) {
		t.Errorf("wrong name: a has a tunnel to %s:\n%s", b.Addr6, out)
	}
}
