package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestForwardNameStub: issue 16's path with the stub. B publishes its key
// only at its forward name b.example. (nothing at its reverse name) and
// proves @b.example. An application on A resolves b.example. through A's
// DNS stub: the stub looks up the IPSECKEY at the name, binds B's address
// to it and prestarts OE, so the tunnel to B is up, with B verified as
// @b.example by the forward-name key, before the application sends a
// packet. The first ping is answered, only ESP crosses the wire, and no
// packet was ever trapped. Without the binding the same mesh has no key
// for B at all (TestForwardNameHook shows the clear fallback).
func TestForwardNameStub(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a"}})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	forwardKey(t, m, "b", "b.example.", nil)
	addRRs(t, m, "b.example. 60 IN A "+b.Addr4.String(), "b.example. 60 IN AAAA "+b.Addr6.String())

	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "identity: \"@b.example\"\n"})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, StubListen: "127.0.0.53:53", Extra: "oe:\n  null_auth: \"off\"\n"})
	c := capture(t, m)

	resolveViaStub(t, a, "b.example.", b.Addr4, false)

	deadline := time.Now().Add(10 * time.Second)
	for {
		ts, _ := traffic(t, m, ctx, "a")
		if slices.ContainsFunc(ts, func(tn control.TunnelStatus) bool { return tn.Peer == b.Addr4.String() }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tunnel to B within 10s of the answer; A's log:\n%s", logTail(m.Log("a"), 60))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := m.CLI(ctx, "a", "dns", "bindings", "--json")
	var l control.BindingList
	if err != nil || decodeStrict([]byte(out), &l) != nil || !slices.ContainsFunc(l.Bindings, func(bd control.Binding) bool {
		return bd.Addr == b.Addr4.String() && strings.TrimSuffix(bd.Name, ".") == "b.example"
	}) {
		t.Errorf("oemesh dns bindings on a, want %s bound to b.example: %v\n%s", b.Addr4, err, out)
	}

	c.Reset()
	r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 3 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESP); n < 3 {
		t.Errorf("%d ESP packets from a to b, want the 3 echoes", n)
	}
	ts, out := traffic(t, m, ctx, "a")
	if !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on a, want peer @b.example authenticated by key:\n%s", out)
	}
	st := status(t, m, ctx, "a")
	if st.Counts["acquires"] != 0 || st.Counts["dns_stub_bindings"] != 1 || st.Counts["dns_stub_prestarts"] != 1 {
		t.Errorf("A's counters %v: want no acquire, 1 stub binding, 1 prestart", st.Counts)
	}
}

// TestForwardNameStubHold: the same path with dns.stub.hold. B's DNS
// answers come 300 ms late, so B verifies A (whose key is at its reverse
// name) no sooner than that: the handshake takes 300 ms or more. A's stub
// holds its answer for b.example. until the negotiation it prestarted is
// up, so the tunnel to B is listed by the time the application has the
// answer, and the application's first packet finds its SA: it is not
// trapped (no acquire), it is answered, no echo is lost and none crosses
// in clear. The hold is counted and did not reach its bound. Without the
// hold, the answer comes at once, with no tunnel yet.
func TestForwardNameStubHold(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a"}})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	forwardKey(t, m, "b", "b.example.", nil)
	addRRs(t, m, "b.example. 60 IN A "+b.Addr4.String())

	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "identity: \"@b.example\"\n"})
	// DNS continues the stub: section that StubListen opens.
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, StubListen: "127.0.0.53:53", DNS: "    hold: 3s\n",
		Extra: "oe:\n  null_auth: \"off\"\n"})
	c := capture(t, m)
	const slow = 300 * time.Millisecond
	m.DNS.SetFault(b.Addr4, lab.DNSFault{Delay: slow})

	began := time.Now()
	resolveViaStub(t, a, "b.example.", b.Addr4, false)
	held := time.Since(began)
	if held < slow {
		t.Errorf("the answer came after %v, before the handshake could end (B's DNS takes %v)", held, slow)
	}
	ts, out := traffic(t, m, ctx, "a")
	if !slices.ContainsFunc(ts, func(tn control.TunnelStatus) bool { return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example" }) {
		t.Fatalf("no tunnel to B (@b.example) when the held answer came (after %v):\n%s\nA's log:\n%s", held, out, logTail(m.Log("a"), 40))
	}
	r := m.Ping(ctx, "a", b.Addr4, 5, 100*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 5 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESP); n < 5 {
		t.Errorf("%d ESP packets from a to b, want the 5 echoes", n)
	}
	st := status(t, m, ctx, "a")
	if st.Counts["acquires"] != 0 || st.Counts["dns_stub_prestarts"] != 1 || st.Counts["dns_stub_held"] != 1 || st.Counts["dns_stub_hold_timeouts"] != 0 {
		t.Errorf("A's counters %v: want no acquire, 1 prestart, 1 held answer, no hold timeout", st.Counts)
	}
	if st.Counts["dns_stub_early_lookups"] != 1 || st.Counts["dns_stub_early_wasted"] != 0 {
		t.Errorf("A's counters %v: want 1 early look-up, none wasted", st.Counts)
	}
	t.Logf("the answer was held %v (the key look-up and the handshake)", held)
}
